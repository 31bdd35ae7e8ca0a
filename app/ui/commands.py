"""Command palette (Ctrl+P) entries: open any instrument, toggle the theme, pick an interval."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from app.ui.main_screen import INTERVALS

if TYPE_CHECKING:
    from app.ui.app import CryptotermApp

Command = tuple[str, Callable[[], object], str]  # (title, callback, help)


class CryptotermCommands(Provider):
    """Commands built from the source's instrument list each time the palette opens."""

    async def startup(self) -> None:
        self._commands = self._build()

    def _build(self) -> list[Command]:
        app = cast("CryptotermApp", self.app)
        commands: list[Command] = []
        try:
            instruments = app.source.instruments()
        except Exception as error:  # the palette must open even if the engine is unwell
            app.log.error(f"instruments() failed: {error!r}")
            instruments = []
        for instrument in instruments:
            commands.append((f"Open {instrument.label}", partial(app.open_instrument, instrument.id),
                             f"Show {instrument.id} in every panel"))
        commands.append(("Toggle dark/light theme", app.action_toggle_theme,
                         "Switch between cryptoterm-dark and cryptoterm-light"))
        for interval in INTERVALS:
            commands.append((f"Chart interval {interval}", partial(app.set_chart_interval, interval),
                             f"Show {interval} candles"))
        return commands

    async def discover(self) -> Hits:
        for title, callback, help_text in self._commands:
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self._commands:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, text=title, help=help_text)
