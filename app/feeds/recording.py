"""Recording control for the engine: which instruments go to the store, and the store.

The engine owns one of these. The database is opened on first use (by a factory the
command gives it), so a session that never records or browses history never touches
the disk; the recorder is created the first time an instrument is switched on and then
listens to every hub event, keeping the ones of recorded instruments.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from app.feeds.health import HealthView
from app.feeds.hub import MarketHub
from app.market.instruments import Instrument


def _wall_ms() -> int:
    return int(time.time() * 1000)


class RecordingControl:
    def __init__(self, hub: MarketHub) -> None:
        self.hub = hub
        self.database_factory: Callable[[], Any] | None = None  # -> sqlalchemy Engine
        self.recorder_options: dict[str, Any] = {}
        self.recorder: Any = None  # storage.recorder.Recorder once attached
        self._db: Any = None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self.recorder is not None or self._db is not None or self.database_factory is not None

    def database(self) -> Any:
        """The store (opened on first call), or None when none is configured."""
        with self._lock:
            if self._db is None:
                if self.recorder is not None:
                    self._db = self.recorder.engine
                elif self.database_factory is not None:
                    self._db = self.database_factory()
            return self._db

    def attach(self, recorder: Any) -> None:
        """Feed ``recorder`` every hub event, its instruments' metadata and book tops."""
        hub = self.hub
        recorder.keys.resolver = self._instrument
        recorder.book_source = hub.book_top
        recorder.instruments_source = hub.instruments
        if recorder.clock_ms is None:
            recorder.clock_ms = _wall_ms
        with hub.lock:
            hub.subscribe(recorder.on_event)
        self.recorder = recorder
        recorder.start()

    def _instrument(self, instrument_id: str) -> Instrument | None:
        with self.hub.lock:
            st = self.hub.state(instrument_id)
            return None if st is None else st.instrument

    def _ensure_recorder(self) -> Any:
        if self.recorder is None:
            db = self.database()
            if db is None:
                raise RuntimeError("recording needs a database; none is configured")
            from storage.recorder import Recorder

            self.attach(Recorder(db, record=(), **self.recorder_options))
        return self.recorder

    def recording(self) -> set[str]:
        if self.recorder is None:
            return set()
        ids: set[str] | None = self.recorder.recording()
        if ids is None:  # everything the hub carries
            return {i.id for i in self.hub.instruments()}
        return ids

    def set_recording(self, instrument_id: str, on: bool) -> None:
        if not on and self.recorder is None:
            return
        self._ensure_recorder().set_recording(instrument_id, on)

    def health(self) -> list[HealthView]:
        return [] if self.recorder is None else [self.recorder.health_view()]

    def stop(self) -> None:
        """Write what is queued and stop the recorder's thread."""
        if self.recorder is not None:
            self.recorder.stop()
