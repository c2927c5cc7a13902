"""``Coalescer``: work asked for often runs at most once per interval (~16 ms); the one
implementation of that timer, used by a mirror file's ``MirrorWatcher`` (counts, live queries)
and by a runtime's ``StatusPublisher`` (listeners).

Public API:

- ``Coalescer(loop, interval, run)``: ``run() -> bool`` runs on the loop and says whether it did
  anything (notified someone, re-ran queries). ``request()`` asks for a run: on the next loop
  turn unless a run that did something started less than ``interval`` ago, else at that run's
  start + ``interval``; every request made meanwhile (also during a run) is served by one run.
  ``close()``: no run after it.

A run that found nothing to do (a commit that moved no count) does not hold back the next one.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable

log = logging.getLogger(__name__)


class Coalescer:
    def __init__(
        self, loop: asyncio.AbstractEventLoop, interval: float, run: Callable[[], bool]
    ) -> None:
        self.loop = loop
        self.interval = interval
        self._run = run
        self._handle: asyncio.Handle | None = None
        self._last_run = -math.inf  # start of the last run that did something
        self._running = False
        self._again = False
        self._closed = False

    def request(self) -> None:
        if self._closed:
            return
        if self._running:
            self._again = True
        elif self._handle is None:
            self._schedule()

    def close(self) -> None:
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self) -> None:
        delay = self._last_run + self.interval - self.loop.time()
        if delay <= 0:
            self._handle = self.loop.call_soon(self._tick)
        else:
            self._handle = self.loop.call_later(delay, self._tick)

    def _tick(self) -> None:
        self._handle = None
        started = self.loop.time()
        self._running, self._again = True, False
        try:
            worked = self._run()
        except Exception:
            log.exception("a coalesced run failed")
            worked = True
        finally:
            self._running = False
        if worked:
            self._last_run = started
        if self._again and not self._closed:
            self._schedule()
