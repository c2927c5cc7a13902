"""Whether lists show event times in UTC or local time: one choice for the whole app, kept in
the settings when the app gives a store (``bind_store``), else for this session."""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QObject, Signal


class TimeZoneStore(Protocol):
    def show_utc_times(self) -> bool: ...
    def set_show_utc_times(self, utc: bool) -> None: ...


class TimeDisplay(QObject):
    changed = Signal(bool)

    def __init__(self) -> None:
        super().__init__()
        self._utc = False
        self._store: TimeZoneStore | None = None

    @property
    def utc(self) -> bool:
        return self._utc

    def bind_store(self, store: TimeZoneStore) -> None:
        self._store = store
        self._utc = store.show_utc_times()

    def set_utc(self, utc: bool) -> None:
        if utc == self._utc:
            return
        self._utc = utc
        if self._store is not None:
            self._store.set_show_utc_times(utc)
        self.changed.emit(utc)


_display: TimeDisplay | None = None


def time_display() -> TimeDisplay:
    """The app's one choice (made on first use, on the UI thread)."""
    global _display
    if _display is None:
        _display = TimeDisplay()
    return _display
