"""The Textual UI: the app, its screens and command palette. Talks to the engine only
through ``MarketSource`` and the immutable views it returns."""

from app.ui.app import CryptotermApp

__all__ = ["CryptotermApp"]
