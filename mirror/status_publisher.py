"""``StatusPublisher``: a runtime's current ``RuntimeStatus`` and its coalesced listeners.

Public API:

- ``StatusPublisher(initial, *, loop, coalesce)``: ``status`` (the current one),
  ``add_listener(cb) -> remove``, ``await wait_until(predicate) -> status``.
- ``set(**changes)``: a new status; ``connection`` and ``role`` changes go through the
  transition table (``mirror.connection_state``; an illegal one raises ``IllegalTransition``
  and changes nothing). Listeners hear of it on the loop, at most once per ``coalesce``
  seconds (the first change at once), always with the newest status.
- ``cleared(notice=None)``: the local mirror was discarded (``clear_version`` + 1, counts 0),
  so views reload.
- ``close()``: cancel a pending notification and notify once, now, with the final status;
  nothing is notified afterwards.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from collections.abc import Callable
from typing import Any

from mirror.connection_state import next_connection, next_role
from mirror.runtime_status import RuntimeStatus

log = logging.getLogger(__name__)

StatusListener = Callable[[RuntimeStatus], None]


class StatusPublisher:
    def __init__(
        self, initial: RuntimeStatus, *, loop: asyncio.AbstractEventLoop, coalesce: float
    ) -> None:
        self._status = initial
        self._loop = loop
        self._coalesce = coalesce
        self._listeners: list[StatusListener] = []
        self._handle: asyncio.Handle | None = None
        self._last_notify = -math.inf
        self._closed = False

    @property
    def status(self) -> RuntimeStatus:
        return self._status

    def add_listener(self, cb: StatusListener) -> Callable[[], None]:
        self._listeners.append(cb)

        def remove() -> None:
            if cb in self._listeners:
                self._listeners.remove(cb)

        return remove

    async def wait_until(self, predicate: Callable[[RuntimeStatus], bool]) -> RuntimeStatus:
        """The status once ``predicate(status)`` holds (no deadline: wrap it in one)."""
        changed = asyncio.Event()
        remove = self.add_listener(lambda _: changed.set())
        try:
            while not predicate(self._status):
                changed.clear()
                await changed.wait()
            return self._status
        finally:
            remove()

    def set(self, **changes: Any) -> None:
        old = self._status
        if "connection" in changes:
            changes["connection"] = next_connection(old.connection, changes["connection"])
        if "role" in changes:
            changes["role"] = next_role(old.role, changes["role"])
        status = dataclasses.replace(old, **changes)
        if status == old:
            return
        self._status = status
        if self._handle is None and not self._closed:
            delay = self._last_notify + self._coalesce - self._loop.time()
            if delay <= 0:
                self._handle = self._loop.call_soon(self._emit)
            else:
                self._handle = self._loop.call_later(delay, self._emit)

    def cleared(self, notice: str | None = None) -> None:
        self.set(
            clear_version=self._status.clear_version + 1,
            event_count=0,
            max_offset=0,
            notice=notice,
        )

    def close(self) -> None:
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._emit()

    def _emit(self) -> None:
        self._handle = None
        self._last_notify = self._loop.time()
        status = self._status
        for cb in list(self._listeners):
            try:
                cb(status)
            except Exception:
                log.exception("runtime status listener failed")
