"""What every subcommand shares."""

from __future__ import annotations

from app.errors import CryptotermError


class CommandError(CryptotermError):
    """Bad input or an impossible request; the message is shown as one line, exit 2."""

    default_title = "Command"
