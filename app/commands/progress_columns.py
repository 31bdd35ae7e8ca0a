"""Progress-bar columns the storage commands share."""

from __future__ import annotations

from rich.progress import ProgressColumn, Task
from rich.text import Text


class RateColumn(ProgressColumn):
    """Candles per second, as rich measures the task's speed."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("–– rows/s" if speed is None else f"{speed:,.0f} rows/s", style="progress.data.speed")
