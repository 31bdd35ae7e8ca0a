"""cryptoterm: watch and trade crypto across exchanges from the terminal."""

__version__ = "0.1.0"
