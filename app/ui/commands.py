"""Command palette (Ctrl+P) entries: every action of the market screen under a plain
name (with its key in the help line), one entry per instrument under its display name,
and one per cryptoterm theme. Searching "keys" finds the API keys screen, "venues" the
cross-venue view; nothing shows an internal instrument id."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Protocol, cast

from textual import Logger
from textual.command import DiscoveryHit, Hit, Hits, Provider

import themes
from app.ui.layout import ORDER, ORDERS, PANE_NAMES, PANES
from app.ui.main_screen import INTERVALS

if TYPE_CHECKING:
    from app.engine_api import MarketSource
    from app.ui.main_screen import MainScreen

Command = tuple[str, Callable[[], object], str]  # (title, callback, help)


class PaletteApp(Protocol):
    """What the palette calls on the app. Not ``CryptotermApp`` itself: the app registers
    this provider, and naming it here would make the two modules import each other."""

    source: MarketSource
    theme: str

    @property
    def main_screen(self) -> MainScreen: ...

    @property
    def log(self) -> Logger: ...

    def action_cross_venue(self) -> None: ...

    def action_watchlist(self) -> None: ...

    def action_help(self) -> None: ...

    def action_alerts(self) -> None: ...

    def action_alerts_log(self) -> None: ...

    def set_chart_interval(self, interval: str) -> None: ...

    def open_instrument(self, instrument_id: str) -> None: ...


def _with_key(help_text: str, key: str) -> str:
    return f"{help_text} · key {key}"


def screen_commands(app: PaletteApp, main: MainScreen) -> list[Command]:
    """The market screen's actions, in the order a newcomer looks for them."""
    commands: list[Command] = [
        ("Switch symbol…", main.action_pick_symbol,
         _with_key("Pick any market of any venue", "s")),
        ("Cross-venue prices (venues)", app.action_cross_venue,
         _with_key("Every market on every venue, deviations from the median", "x")),
        ("Watchlist: every market at a glance", app.action_watchlist,
         _with_key("Sort, filter, favourites, 24h change, funding, sparklines", "w")),
        ("Record this instrument (start/stop)", main.action_toggle_record,
         _with_key("Record the instrument on screen to the history store", "r")),
        ("History: browse recorded klines", main.action_history,
         _with_key("Chart and export what was recorded", "h")),
        ("Alerts: rules", app.action_alerts,
         _with_key("Price, move, deviation, funding, spread, feed and order alerts", "a")),
        ("Alerts: log", app.action_alerts_log, "What fired, this session and earlier ones"),
    ]
    if main.trading is not None and main.trading_ready:
        commands += [
            ("Order entry", main.action_focus_order, _with_key("Go to the order form", "o")),
            ("Cancel the selected order", main.action_cancel_selected,
             _with_key("Cancel the open order selected in the blotter", "c")),
            ("Cancel all open orders", main.action_cancel_all, _with_key("Asks first", "C")),
            ("Account: paper, testnet or demo", main.action_account,
             _with_key("Choose where orders go", "A")),
            ("API keys", main.action_keys,
             _with_key("Store or delete API keys (OS keyring)", "k")),
        ]
    for interval in INTERVALS:
        key = str(INTERVALS.index(interval) + 1)
        commands.append((f"Chart interval {interval}", partial(app.set_chart_interval, interval),
                         _with_key(f"Show {interval} candles", key)))
    commands += [
        ("Grouping: coarser book prices", partial(main.action_group, 1),
         _with_key("Group ladder levels (tick x 2, 5, 10 ...)", "+")),
        ("Grouping: finer book prices", partial(main.action_group, -1),
         _with_key("Back down to the tick", "-")),
    ]
    panes = PANES if main.trading_ready else tuple(p for p in PANES if p not in (ORDER, ORDERS))
    for pane in panes:
        name = PANE_NAMES[pane]
        commands.append((f"Zoom the {name}", partial(main.zoom_pane, pane),
                         _with_key("Show it alone; again to restore", "z on the focused pane")))
        commands.append((f"Hide or show the {name}", partial(main.toggle_pane, pane),
                         _with_key("Give its room to the other panes", "v on the focused pane")))
    commands.append(("Show every pane", main.action_show_panes,
                     _with_key("Undo hides and zoom", "V")))
    for theme in themes.THEMES:
        title = themes.THEME_TITLES[theme.name]
        commands.append((f"Theme: {title}", partial(setattr, app, "theme", theme.name),
                         _with_key(f"Switch to cryptoterm's {title} theme", "t cycles")))
    commands.append(("Key bindings (help)", app.action_help, _with_key("Every key", "?")))
    return commands


class CryptotermCommands(Provider):
    """Commands built from the source's instrument list each time the palette opens."""

    async def startup(self) -> None:
        self._commands = self._build()

    def _build(self) -> list[Command]:
        app = cast("PaletteApp", self.app)
        commands = screen_commands(app, app.main_screen)
        try:
            instruments = app.source.instruments()
        except Exception as error:  # the palette must open even if the engine is unwell
            app.log.error(f"instruments() failed: {error!r}")
            instruments = []
        for instrument in instruments:
            commands.append((f"Open {instrument.label}", partial(app.open_instrument, instrument.id),
                             "Show it in every panel"))
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
