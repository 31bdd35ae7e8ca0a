"""Example strategy files shipped with cryptoterm (copy one to start your own)."""
