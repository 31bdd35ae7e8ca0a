"""The market screen's part in recording: the record toggle (``r``), the ● REC badge in
the header, and the way into the history browser (``h``).

A mixin, like the trading panel, so the market screen stays about the market. It works
with any MarketSource: one without the RecordingSwitch or HistorySource capability
(app.engine_api) simply answers the keys with a notice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.binding import Binding

from app.engine_api import HistorySource, MarketSource, recording_ids
from app.errors import CryptotermError
from app.ui.error_toast import error_toast
from app.ui.header import AppHeader


# the screen the mixin is mixed into (MainScreen), for the type checker only: at run time
# the mixin is a plain class ahead of Screen in MainScreen's bases
if TYPE_CHECKING:
    from textual.screen import Screen

    _ScreenBase = Screen[None]
else:
    _ScreenBase = object


class RecordingKeysMixin(_ScreenBase):
    """Needs ``self.source``, ``self.instrument_id`` and ``self.interval`` (MainScreen)."""

    source: MarketSource
    instrument_id: str | None
    interval: str

    RECORDING_BINDINGS = [
        Binding("r", "toggle_record", "Record", tooltip="Record the instrument on screen to the history store"),
        Binding("h", "history", "History", tooltip="Browse, chart and export recorded klines"),
    ]

    def update_recording(self) -> None:
        """Show ● REC in the header while the instrument on screen is being recorded."""
        try:
            ids = recording_ids(self.source) or set()
        except Exception:  # the badge must never take the frame down
            ids = set()
        header = self.query_one(AppHeader)
        on = self.instrument_id in ids
        if header.recording != on:
            header.recording = on

    def action_toggle_record(self) -> None:
        from app.ui.history_screen import toggle_recording

        toggle_recording(self, self.source, self.instrument_id)
        self.update_recording()

    def action_history(self) -> None:
        from app.ui.history_screen import HistoryScreen

        source = self.source
        try:
            history = source.history() if isinstance(source, HistorySource) else None
        except CryptotermError as exc:  # e.g. the store cannot be opened (StorageError)
            error_toast(self, exc, title="Cannot open the history store")
            return
        except Exception as exc:  # a defect must not take the UI down either
            self.notify(f"cannot open the history store: {exc}", severity="error")
            return
        if history is None:
            self.notify("no history store in this session", severity="warning")
            return
        self.app.push_screen(HistoryScreen(history, source=source, instrument_id=self.instrument_id,
                                           interval=self.interval))
