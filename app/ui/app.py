"""CryptotermApp: themes, app-wide keys, and the main screen over a MarketSource."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from collections.abc import Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen

import themes
from app.engine_api import MarketSource, directory_of
from app.gc_policy import LOOK_EVERY_S, FreezeSchedule, calm_collector, freeze_long_lived
from app.ui.commands import CryptotermCommands
from app.ui.confirm_order import ConfirmAction
from app.ui.help_screen import HelpScreen, binding_entries
from app.ui.main_screen import MainScreen
from app.ui.watchlist_screen import WatchSettings

if TYPE_CHECKING:
    from app.alerts.runtime import AlertRuntime

if TYPE_CHECKING:  # the API's imports (FastAPI, uvicorn) load only when it is started
    from app.api.server import ApiServer


class ConfirmQuit(ConfirmAction):
    """"Quit while an order is on its way?" (its own type: Ctrl+C on it means yes)."""


NOTICES_KEPT = 50  # enough to look back over a session's messages, bounded for a long run


@dataclass(slots=True, frozen=True)
class Notice:
    """One message the app showed as a toast (the toast itself disappears after its timeout)."""

    message: str
    title: str
    severity: SeverityLevel
    at: float


class CryptotermApp(App[None]):
    """The terminal UI. ``source`` is the engine (or anything implementing MarketSource)."""

    TITLE = "cryptoterm"
    CSS_PATH = themes.CSS_PATH
    COMMANDS = App.COMMANDS | {CryptotermCommands}
    BINDINGS = [
        # Ctrl+C quits like in every terminal program, even from a text field (Textual
        # would only say "press ctrl+q"); it asks first only while an order is being sent
        Binding("ctrl+c", "quit_safely", "Quit", show=False, priority=True,
                tooltip="Quit (asks first while an order is being sent)"),
        Binding("ctrl+q", "quit_safely", "Quit", show=False, priority=True,
                tooltip="Quit (asks first while an order is being sent)"),
        Binding("q", "quit_safely", "Quit", tooltip="Quit cryptoterm"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="Show or hide this list"),
        # in ? help and the palette, not the footer: at 160 columns the footer has room for
        # the screens (Venues, Alerts, Watchlist) only without it
        Binding("t", "toggle_theme", "Theme", show=False,
                tooltip="Next cryptoterm theme: dark, light, high contrast"),
        Binding("x", "cross_venue", "Venues", tooltip="Compare prices across venues"),
        Binding("a", "alerts", "Alerts", tooltip="Alert rules: add, edit, switch off; l shows the log"),
        Binding("w", "watchlist", "Watchlist", tooltip="Every market of every venue at a glance"),
    ]

    def __init__(self, source: MarketSource, instrument_id: str | None = None,
                 theme: str = themes.DARK, fps: float = 10.0, *, mode_label: str = "DEMO",
                 clock: Callable[[], float] = time.time, notices: list[str] | None = None,
                 notices_title: str = "config", api_address: str = "") -> None:
        super().__init__()
        self.api_address = api_address  # the data API (app.api) serving this session, if any
        self.api_server: ApiServer | None = None  # stopped by whoever runs the app
        self._notices = list(notices or ())  # e.g. unknown config keys, toasted at start
        # every toast, newest last: Textual keeps only the ones still on screen, privately
        self.recent_notices: deque[Notice] = deque(maxlen=NOTICES_KEPT)
        self._notices_title = notices_title
        self.source = source
        self.fps = fps
        self.mode_label = mode_label
        self._initial_instrument = instrument_id
        self._clock = clock
        self.alert_bps = 50.0  # cross-venue view settings (config [app] alert_bps, usd_family)
        self.usd_family = True
        # the engine's alerts (app.alerts.runtime.AlertRuntime), toasted from any screen
        self.alerts: AlertRuntime | None = None
        self._alert_seen = 0
        self.watch_settings = WatchSettings()  # config [app] favourites, reduced_motion
        themes.register_themes(self)
        self.theme = theme  # raises InvalidThemeError for an unknown name: a CLI error to report

    def on_mount(self) -> None:
        calm_collector()
        collector, started = FreezeSchedule(), time.monotonic()

        def collect_if_due() -> None:
            if collector.due(time.monotonic() - started):
                freeze_long_lived()

        self.set_interval(LOOK_EVERY_S, collect_if_due)
        if self._notices:  # one toast for them all; markup off: "[app] venuez" is no style tag
            self.notify("\n".join(self._notices), title=self._notices_title, severity="warning",
                        timeout=20, markup=False)
        if self.alerts is not None:
            # earlier sessions' alerts are in the log; this one's since the engine started
            self._alert_seen = self.alerts.session_start_seq
            self.set_interval(0.25, self._show_alerts)

    def _show_alerts(self) -> None:
        """Toast (and ring for) what the engine's rules fired since the last look."""
        if self.alerts is None:
            return
        fresh = self.alerts.since(self._alert_seen)
        if not fresh:
            return
        self._alert_seen = fresh[-1].seq
        options = self.alerts.options
        # the order panel toasts every order notice already: an order rule's alert goes to
        # the log, the file, the desktop and the webhook, not into a second toast
        shown = [a for a in fresh if a.kind != "order"]
        if options.toast:
            for alert in shown[-5:]:  # a burst: the newest few; the log has them all
                self.notify(alert.message, title=alert.title, severity=alert.severity,
                            timeout=8, markup=False)
            if len(shown) > 5:
                self.notify(f"{len(shown) - 5} more alerts: see the alerts log (a, then l)",
                            title="Alerts", severity="warning", timeout=8)
        if options.bell:
            self.bell()

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        # widgets' and screens' notify() end up here too
        self.recent_notices.append(Notice(str(message), title, severity, self._clock()))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        # A theme registered by someone else (a test, a plugin) may lack $bid/$ask.
        return themes.variable_defaults(self.current_theme.dark)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # Textual's "Keys" panel would shadow "API keys" in a search for "keys", and its
        # maximize duplicates the pane zoom (z); cryptoterm's own list has both.
        for command in super().get_system_commands(screen):
            if command.title == "Quit":  # the same question as Ctrl+C while an order is sent
                yield SystemCommand("Quit", "Quit cryptoterm (asks first while an order is on "
                                    "its way)", self.action_quit_safely)
            elif command.title not in ("Keys", "Maximize", "Minimize"):
                yield command

    def get_default_screen(self) -> Screen:
        return MainScreen(self.source, self._initial_instrument, fps=self.fps,
                          mode_label=self.mode_label, clock=self._clock,
                          api_address=self.api_address)

    @property
    def main_screen(self) -> MainScreen:
        """The market screen (the bottom of the screen stack)."""
        screen = self.screen_stack[0]
        assert isinstance(screen, MainScreen)
        return screen

    # -- commands used by keys and the palette ----------------------------------------

    def open_instrument(self, instrument_id: str) -> None:
        self.main_screen.select_instrument(instrument_id)

    def set_chart_interval(self, interval: str) -> None:
        self.main_screen.set_chart_interval(interval)

    def action_toggle_theme(self) -> None:
        self.theme = themes.toggled(self.theme)
        self.notify(f"theme: {themes.THEME_TITLES.get(self.theme, self.theme)}", timeout=2)

    def action_quit_safely(self) -> None:
        """Quit now, unless an order or cancel is on its way to an account: then ask (a
        second Ctrl+C while asking quits, as the question says)."""
        if isinstance(self.screen, ConfirmQuit):
            self.exit()
            return
        sending = self.main_screen.requests_in_flight()
        if not sending:
            self.exit()
            return
        tv = self.main_screen.trading.view()  # type: ignore[union-attr]  # requests are in flight only when there is trading

        def answer(yes: bool | None) -> None:
            if yes:
                self.exit()

        question = ConfirmQuit(
            f"{sending} order request{'s are' if sending != 1 else ' is'} still on the way",
            f"to {tv.label}. Quitting now leaves you without its answer: check the account's "
            "open orders afterwards. Quit anyway? (Ctrl+C again quits)", tv.env, "Quit")
        self.push_screen(question, answer)

    def action_cross_venue(self) -> None:
        from app.ui.cross_venue_screen import CrossVenueScreen

        if not isinstance(self.screen, CrossVenueScreen):
            self.push_screen(CrossVenueScreen(self.source, self.alert_bps, clock=self._clock,
                                              usd_family=self.usd_family), self._opened)

    def action_alerts(self) -> None:
        from app.ui.alerts_screen import AlertsScreen

        if self.alerts is None:
            self.notify("Alerts are not running in this session", severity="warning", timeout=4)
        elif not isinstance(self.screen, AlertsScreen):
            self.push_screen(AlertsScreen(self.alerts))

    def action_alerts_log(self) -> None:
        from app.ui.alerts_screen import AlertsLogScreen

        if self.alerts is None:
            self.notify("Alerts are not running in this session", severity="warning", timeout=4)
        elif not isinstance(self.screen, AlertsLogScreen):
            self.push_screen(AlertsLogScreen(self.alerts))
    def action_watchlist(self) -> None:
        from app.ui.watchlist_screen import WatchlistScreen

        if not isinstance(self.screen, WatchlistScreen):
            self.push_screen(WatchlistScreen(self.source, self.watch_settings, fps=self.fps,
                                             alert_bps=self.alert_bps, usd_family=self.usd_family,
                                             clock=self._clock), self._opened_from_list)

    def _opened_from_list(self, instrument_id: str | None) -> None:
        # most watchlist rows stream tickers only: opening one starts its book
        if instrument_id is not None:
            directory = directory_of(self.source)
            if directory is not None:
                directory.ensure(instrument_id)
            self.open_instrument(instrument_id)

    def _opened(self, instrument_id: str | None) -> None:
        if instrument_id is not None:
            self.open_instrument(instrument_id)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen(binding_entries(self, self.main_screen.active_bindings)))
