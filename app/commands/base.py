"""What every subcommand shares."""

from __future__ import annotations


class CommandError(Exception):
    """Bad input or an impossible request; the message is shown as one line, exit 2."""
