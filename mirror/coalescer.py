"""``Coalescer``: THE ~16 ms tick of a mirror file: work asked for often runs at most once per
interval.

Public API:

- ``Coalescer(loop, interval)``: ``add(step) -> remove`` registers a step (``step() -> bool``
  runs on the loop; steps run in the order they were added, each deciding for itself whether it
  has anything to do, and returning True when it did: notified someone or re-ran queries);
  ``request()`` asks for a tick: on the next loop turn unless a tick that did something ran less
  than ``interval`` ago, else at that tick's time + ``interval``; every request made meanwhile
  (also during a tick) is served by one tick. ``request(at_once=True)``: on the next loop turn
  whatever the interval (a status transition listeners must not miss). ``close()``: no tick
  after it.

A runtime has one: its ``MirrorWatcher`` (counts, live queries) adds its step first and its
``StatusPublisher`` (listeners) second, so a change the watcher reads reaches the status
listeners in the same tick.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable

log = logging.getLogger(__name__)

Step = Callable[[], bool]


class Coalescer:
    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self.loop = loop
        self.interval = interval
        self._steps: list[Step] = []
        self._handle: asyncio.Handle | None = None
        # The last tick in which a step did something: a tick that found nothing to do (a
        # commit that moved no count) does not hold back the next one.
        self._last_tick = -math.inf
        self._ticking = False
        self._again = False
        self._again_at_once = False
        self._soon = False  # the pending tick runs on the next loop turn
        self._closed = False

    def add(self, step: Step) -> Callable[[], None]:
        self._steps.append(step)

        def remove() -> None:
            if step in self._steps:
                self._steps.remove(step)

        return remove

    def request(self, *, at_once: bool = False) -> None:
        if self._closed:
            return
        if self._ticking:
            self._again = True
            self._again_at_once = self._again_at_once or at_once
            return
        if self._handle is not None:
            if self._soon or not at_once:
                return
            self._handle.cancel()
        self._schedule(at_once=at_once)

    def _schedule(self, *, at_once: bool) -> None:
        delay = 0.0 if at_once else self._last_tick + self.interval - self.loop.time()
        self._soon = delay <= 0
        if self._soon:
            self._handle = self.loop.call_soon(self._tick)
        else:
            self._handle = self.loop.call_later(delay, self._tick)

    def close(self) -> None:
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        self._handle = None
        started = self.loop.time()
        self._ticking, self._again, self._again_at_once = True, False, False
        worked = False
        try:
            for step in list(self._steps):
                try:
                    worked = step() or worked
                except Exception:
                    log.exception("a coalesced step failed")
        finally:
            self._ticking = False
        if worked:
            self._last_tick = started
        if self._again and not self._closed:
            self._schedule(at_once=self._again_at_once)
