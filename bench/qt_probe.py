"""``QtStallProbe``: how long the Qt event loop goes without running a 5 ms timer.

Start it on the loop to watch; ``gaps`` holds every interval between ticks in ms, ``worst`` the
longest; ``stop()`` ends it. Used by the benches that drive real widgets (ui_stall, big_event).
"""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer

TICK_MS = 5


class QtStallProbe:
    def __init__(self) -> None:
        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    @property
    def worst(self) -> float:
        return max(self.gaps, default=0.0)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now - self._last) * 1000)
        self._last = now

    def stop(self) -> None:
        self._timer.stop()
