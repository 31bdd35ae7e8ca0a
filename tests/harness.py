"""Small Textual harness for widget tests: an App with cryptoterm's themes and stylesheet,
a MarketSource that serves prepared views (plain data, no I/O), and text extraction."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widget import Widget

import themes
from app.feeds.health import HealthView
from app.feeds.views import InstrumentView
from app.market.instruments import Instrument


class WidgetApp(App[None]):
    """Mounts the given widgets with the real themes and app.tcss."""

    CSS_PATH = themes.CSS_PATH

    def __init__(self, *widgets: Widget, theme: str = themes.DARK) -> None:
        super().__init__()
        self._widgets = widgets
        themes.register_themes(self)
        self.theme = theme

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return themes.variable_defaults(self.current_theme.dark)

    def compose(self) -> ComposeResult:
        yield from self._widgets


def widget_lines(widget: Widget) -> list[str]:
    """The widget as it is painted (border and padding included), one string per row."""
    width, height = widget.outer_size
    return [strip.text for strip in widget.render_lines(Region(0, 0, width, height))]


def widget_text(widget: Widget) -> str:
    return "\n".join(widget_lines(widget))


def screen_text(app: App) -> str:
    """Everything on screen, as plain text (what a screenshot would show).

    Textual 8 has no public call for the composited screen as text: export_screenshot()
    renders the same strips but only as SVG, split into styled spans. So this is the one
    place the tests reach into a private API (Screen._compositor); if Textual renames it,
    only this function changes.
    """
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


class StaticSource:
    """A MarketSource over prepared views: ``views[instrument_id]`` is returned as is.

    It records ``watch`` calls and the arguments of the latest ``view`` call, so tests can
    check what the UI asked for.
    """

    def __init__(self, instruments: Iterable[Instrument], views: dict[str, InstrumentView],
                 healths: Iterable[HealthView] = ()) -> None:
        self._instruments = list(instruments)
        self.views = dict(views)
        self.healths = list(healths)
        self.watched: list[tuple[str, str]] = []
        self.view_calls: list[tuple[str, int, float, str, int]] = []

    def instruments(self) -> list[Instrument]:
        return list(self._instruments)

    def view(self, instrument_id: str, depth: int = 20, group: float = 0.0,
             interval: str = "1m", trades: int = 50) -> InstrumentView | None:
        self.view_calls.append((instrument_id, depth, group, interval, trades))
        return self.views.get(instrument_id)

    def watch(self, instrument_id: str, interval: str) -> None:
        self.watched.append((instrument_id, interval))

    def health(self) -> list[HealthView]:
        return list(self.healths)
