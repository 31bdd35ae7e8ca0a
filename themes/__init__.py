"""cryptoterm's Textual themes and the path of the app stylesheet.

Trading colours (bid/ask and their dimmer bar backgrounds) are theme variables, so
every widget that colours by side reads them from one place and a theme switch
recolours the whole screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.theme import Theme

if TYPE_CHECKING:
    from textual.app import App

CSS_PATH: Path = Path(__file__).with_name("app.tcss")
"""The app stylesheet, shipped as package data next to this module."""

DARK = "cryptoterm-dark"
LIGHT = "cryptoterm-light"
CONTRAST = "cryptoterm-high-contrast"

CRYPTOTERM_DARK = Theme(
    name=DARK,
    primary="#3b82f6",
    secondary="#60a5fa",
    accent="#f0b90b",
    warning="#f0b90b",
    error="#f6465d",
    success="#2ebd85",
    foreground="#eaecef",
    background="#0b0e11",
    surface="#161a1e",
    panel="#1e2329",
    dark=True,
    variables={
        "bid": "#2ebd85",
        "ask": "#f6465d",
        # Bars sit behind text, so they are dark enough that white/green/red stays legible.
        "bid-bar": "#12392b",
        "ask-bar": "#4a1b24",
        "unsynced": "#ff3b4f",
        "unsynced-foreground": "#ffffff",
        "footer-key-foreground": "#f0b90b",
    },
)

CRYPTOTERM_LIGHT = Theme(
    name=LIGHT,
    primary="#1f6feb",
    secondary="#0969da",
    accent="#b7791f",
    warning="#b7791f",
    error="#c92a3d",
    success="#0e8a5f",
    foreground="#1e2329",
    background="#fafafa",
    surface="#ffffff",
    panel="#e9ecef",
    dark=False,
    variables={
        # Darker than the dark theme's greens/reds: pastel text vanishes on white.
        "bid": "#0b7a52",
        "ask": "#c92a3d",
        "bid-bar": "#cdeedd",
        "ask-bar": "#f8d3d8",
        "unsynced": "#c62828",
        "unsynced-foreground": "#ffffff",
        "footer-key-foreground": "#1f6feb",
    },
)

# Pure black and white with saturated sides, for glare, projectors and weak eyes: every
# text colour here is at least 7:1 against the background (WCAG AAA).
CRYPTOTERM_CONTRAST = Theme(
    name=CONTRAST,
    primary="#00d7ff",
    secondary="#5fd7ff",
    accent="#ffd700",
    warning="#ffd700",
    error="#ff5f5f",
    success="#00ff87",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#1c1c1c",
    dark=True,
    variables={
        "bid": "#00ff87",
        "ask": "#ff5f5f",
        "bid-bar": "#004d29",
        "ask-bar": "#5c0000",
        "unsynced": "#ff0000",
        "unsynced-foreground": "#ffffff",
        "footer-key-foreground": "#ffd700",
        "text-muted": "#d0d0d0",
    },
)

THEMES: tuple[Theme, ...] = (CRYPTOTERM_DARK, CRYPTOTERM_LIGHT, CRYPTOTERM_CONTRAST)
THEME_TITLES = {DARK: "dark", LIGHT: "light", CONTRAST: "high contrast"}

_TRADING_VARIABLES = ("bid", "ask", "bid-bar", "ask-bar", "unsynced", "unsynced-foreground")


def variable_defaults(dark: bool) -> dict[str, str]:
    """Trading colours for themes that do not define them (Textual's built-ins, picked
    from the palette): without them app.tcss references undefined variables and fails
    to parse. Taken from the cryptoterm theme of the same lightness."""
    source = CRYPTOTERM_DARK if dark else CRYPTOTERM_LIGHT
    return {name: source.variables[name] for name in _TRADING_VARIABLES}


def register_themes(app: App) -> None:
    """Make cryptoterm's themes, and only them, selectable on ``app`` (by name, with
    ``t``, or from the palette's theme picker): Textual's ~20 built-ins were never
    designed around bid/ask colours and only made the picker long."""
    for theme in THEMES:
        app.register_theme(theme)
    ours = {theme.name for theme in THEMES}
    if app.theme not in ours:
        app.theme = DARK
    for name in list(app.available_themes):
        if name not in ours:
            app.unregister_theme(name)


def toggled(theme_name: str) -> str:
    """The cryptoterm theme after ``theme_name`` (dark -> light -> high contrast -> dark)."""
    names = [theme.name for theme in THEMES]
    if theme_name not in names:
        return DARK
    return names[(names.index(theme_name) + 1) % len(names)]
