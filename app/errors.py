"""The root of every error a user can see.

The CLI prints any ``CryptotermError`` as ``cryptoterm: error: <message>`` (exit 2) and the
UI shows one as a toast titled ``title``; neither ever shows a traceback for one. This
module sits at the bottom of the import layers: it imports nothing of ours, so every
layer can derive its errors from it."""

from __future__ import annotations

from typing import ClassVar


class CryptotermError(Exception):
    """A failure explained in plain words: ``message`` is the sentence shown to the user,
    ``title`` a few words naming what failed (a toast's title). ``str()`` is the message."""

    default_title: ClassVar[str] = "Error"

    def __init__(self, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.title = title or self.default_title

    def __str__(self) -> str:
        return self.message
