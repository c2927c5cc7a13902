"""``IngestQueue``: delivered events waiting for the single writer loop, and the ingest backoff.

Public API:

- ``IngestQueue(*, loop, max_transaction_events, backlog_limit)``.
- ``put(epoch, incarnation, events) -> bool``: queue a delivery of the connection ``epoch``,
  proven to be of ``incarnation``; False when the backlog is past ``backlog_limit`` (the caller
  drops the socket and pages history instead, so memory stays bounded).
- ``clear()``: forget everything queued (the connection it came over is gone).
- ``await run(target, write, on_failed, on_applied)``: the ONE writer loop. Each round takes
  what is queued, at most ``max_transaction_events`` events, keeps only what came over the
  current connection for its incarnation (``target() -> (epoch, incarnation, writer)``) and
  writes it in ONE transaction (``write(writer, events, incarnation) -> applied``).
  A failed write goes to ``on_failed(epoch, error)``; one that applied events to
  ``on_applied()`` (and resets the backoff).
- ``backoff_failure() -> delay``: one more consecutive failed write
  (``mirror.backoff.IngestBackoff``); ``not_before``: the loop time before which no dial may
  start (a pending backoff is never cut short).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from mirror.backoff import IngestBackoff
from mirror.processors import MirrorWriter
from mirror.types import Event, Events

Target = tuple[int, str | None, MirrorWriter | None]


class IngestQueue:
    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        max_transaction_events: int,
        backlog_limit: int,
    ) -> None:
        self._loop = loop
        self._limit = max_transaction_events
        self._backlog_limit = backlog_limit
        # (epoch, incarnation, events): what was delivered, waiting for the writer.
        self._pending: deque[tuple[int, str, Events]] = deque()
        self.pending_events = 0
        self._wake = asyncio.Event()
        self._backoff = IngestBackoff()
        self.not_before = 0.0

    @property
    def failures(self) -> int:
        return self._backoff.failures

    def put(self, epoch: int, incarnation: str, events: Events) -> bool:
        self._pending.append((epoch, incarnation, events))
        self.pending_events += len(events)
        if self.pending_events > self._backlog_limit:
            return False
        self._wake.set()
        return True

    def clear(self) -> None:
        self._pending.clear()
        self.pending_events = 0

    def backoff_failure(self) -> float:
        delay = self._backoff.record_failure()
        self.not_before = self._loop.time() + delay
        return delay

    async def run(
        self,
        target: Callable[[], Target],
        write: Callable[[MirrorWriter, Events, str], Awaitable[int]],
        on_failed: Callable[[int, Exception], None],
        on_applied: Callable[[], None],
    ) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                epoch, incarnation, writer = target()
                events = self._take(epoch, incarnation)
                if not events or writer is None or incarnation is None:
                    continue
                try:
                    applied = await write(writer, events, incarnation)
                except Exception as error:
                    on_failed(epoch, error)
                    continue
                if applied:
                    self._backoff.record_success()
                    on_applied()

    def _take(self, epoch: int, incarnation: str | None) -> list[Event]:
        events: list[Event] = []
        while self._pending and len(events) < self._limit:
            batch_epoch, batch_incarnation, batch_events = self._pending.popleft()
            self.pending_events -= len(batch_events)
            if batch_epoch == epoch and batch_incarnation == incarnation:
                events.extend(batch_events)
        return events
