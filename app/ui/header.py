"""One-line app header: app name, the market-data badge (DEMO DATA / LIVE DATA), where
orders go (``orders: PAPER``, ``orders: okx DEMO``), and the instrument on screen.
Badges rather than title words, because trading against the wrong environment is the
mistake this line exists to prevent; each badge names what it is about, so the demo
market and a venue's demo account never read as one repeated word."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


class AppHeader(Widget):
    """Header line; set :attr:`instrument_label` (and :attr:`detail`) to update it."""

    COMPONENT_CLASSES = {"header--app", "header--demo", "header--live", "header--instrument",
                         "header--detail", "header--env-paper", "header--env-testnet",
                         "header--env-demo", "header--env-live", "header--rec", "header--api"}
    DEFAULT_CSS = """
    AppHeader {
        height: 1;
        width: 1fr;
        background: $panel;
        padding: 0 1;
    }
    AppHeader > .header--app { color: $primary; text-style: bold; }
    AppHeader > .header--demo { background: $warning; color: $background; text-style: bold; }
    AppHeader > .header--live { background: $success; color: $background; text-style: bold; }
    AppHeader > .header--instrument { text-style: bold; }
    AppHeader > .header--detail { color: $text-muted; }
    AppHeader > .header--env-paper { background: $primary; color: $background; text-style: bold; }
    AppHeader > .header--env-testnet { background: $warning; color: $background; text-style: bold; }
    AppHeader > .header--env-demo { background: $accent; color: $background; text-style: bold; }
    AppHeader > .header--env-live { background: $error; color: $text; text-style: bold reverse; }
    AppHeader > .header--rec { color: $error; text-style: bold; }
    AppHeader > .header--api { color: $accent; }
    """

    instrument_label: reactive[str] = reactive("")
    detail: reactive[str] = reactive("")
    # where orders go: "" (no trading), or an Environment value + its label ("paper", "PAPER")
    trading_env: reactive[str] = reactive("")
    trading_label: reactive[str] = reactive("")
    # the instrument on screen is being recorded to the history store
    recording: reactive[bool] = reactive(False)

    def __init__(self, app_name: str, mode_label: str, *, api_address: str = "",
                 name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.app_name = app_name
        self.mode_label = mode_label
        self.api_address = api_address  # where the data API listens ("" when it does not)

    def render(self) -> Text:
        badge = "header--demo" if "DEMO" in self.mode_label.upper() else "header--live"
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(self.app_name, self.get_component_rich_style("header--app"))
        text.append("  ")
        text.append(f" {self.mode_label} ", self.get_component_rich_style(badge))
        if self.trading_env:
            # orders' destination, always visible: a second badge in its environment's colour
            text.append(" ")
            text.append(f" orders: {self.trading_label or self.trading_env.upper()} ",
                        self.get_component_rich_style(f"header--env-{self.trading_env}"))
        if self.api_address:  # before the instrument: an 80-column header still shows it
            text.append(f"  API {self.api_address}", self.get_component_rich_style("header--api"))
        text.append("  ")
        text.append(self.instrument_label or "no instrument",
                    self.get_component_rich_style("header--instrument"))
        if self.recording:
            text.append("  ● REC", self.get_component_rich_style("header--rec"))
        if self.detail:
            text.append(f"   {self.detail}", self.get_component_rich_style("header--detail"))
        return text
