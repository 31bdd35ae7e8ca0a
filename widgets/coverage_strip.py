"""Coverage strip: one line showing which parts of a time range are stored, where the
gaps are, and which part the chart is showing.

Each cell stands for an equal slice of the range: █ fully stored, ▒ partly, ░ missing.
The slice on the chart is drawn in the accent colour, so panning shows where one is.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

FULL, PARTIAL, EMPTY = "█", "▒", "░"


def coverage_cells(start: int, end: int, gaps: Sequence[tuple[int, int]], width: int) -> list[float]:
    """Missing fraction (0 = stored, 1 = missing) of each of ``width`` equal slices of
    [start, end); ``gaps`` are sorted, non-overlapping [from, to) ranges."""
    if width <= 0 or end <= start:
        return []
    span = (end - start) / width
    out = []
    g = 0
    for i in range(width):
        c0 = start + i * span
        c1 = c0 + span
        while g < len(gaps) and gaps[g][1] <= c0:
            g += 1
        missing = 0.0
        j = g
        while j < len(gaps) and gaps[j][0] < c1:
            missing += min(c1, gaps[j][1]) - max(c0, gaps[j][0])
            j += 1
        out.append(min(1.0, max(0.0, missing / span)))
    return out


class CoverageStrip(Widget):
    COMPONENT_CLASSES = {"coverage--label", "coverage--have", "coverage--gap", "coverage--window",
                         "coverage--window-gap"}
    DEFAULT_CSS = """
    CoverageStrip { height: 1; width: 1fr; padding: 0 1; }
    CoverageStrip > .coverage--label { color: $text-muted; }
    CoverageStrip > .coverage--have { color: $success 60%; }
    CoverageStrip > .coverage--gap { color: $error; }
    CoverageStrip > .coverage--window { color: $accent; }
    CoverageStrip > .coverage--window-gap { color: $error; background: $accent 30%; }
    """

    coverage: reactive[tuple] = reactive((), layout=False)

    def set_coverage(self, start: int, end: int, gaps: Sequence[tuple[int, int]],
                     window: tuple[int, int] | None = None, figure: str | None = None) -> None:
        """Range [start, end), its missing ranges, the slice on screen, and the figure to
        print after the strip (default: the share of time stored)."""
        self.coverage = (start, end, tuple(gaps), window, figure)

    @property
    def stored_fraction(self) -> float | None:
        if not self.coverage:
            return None
        start, end, gaps = self.coverage[:3]
        if end <= start:
            return None
        missing = sum(min(end, b) - max(start, a) for a, b in gaps if b > start and a < end)
        return 1.0 - missing / (end - start)

    def render(self) -> Text:
        text = Text(no_wrap=True)
        label = self.get_component_rich_style("coverage--label")
        if not self.coverage:
            text.append("coverage: nothing loaded", label)
            return text
        start, end, gaps, window, figure = self.coverage
        fraction = self.stored_fraction or 0.0
        suffix = f" {figure}" if figure else f" {fraction * 100:5.1f}% stored"
        text.append("coverage ", label)
        width = max(0, self.size.width - len("coverage ") - len(suffix))
        styles = {k: self.get_component_rich_style(f"coverage--{k}")
                  for k in ("have", "gap", "window", "window-gap")}
        span = (end - start) / width if width else 0
        for i, missing in enumerate(coverage_cells(start, end, gaps, width)):
            mid = start + (i + 0.5) * span
            inside = window is not None and window[0] <= mid < window[1]
            glyph = FULL if missing == 0 else EMPTY if missing >= 0.999 else PARTIAL
            if inside:
                style = styles["window"] if missing == 0 else styles["window-gap"]
            else:
                style = styles["have"] if missing == 0 else styles["gap"]
            text.append(glyph, style)
        text.append(suffix, label)
        return text
