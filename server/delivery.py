"""One subscription's delivery connection: a pump that hands committed events to a subscriber.

Replay and live tail are the same loop (reference §4.1): read up to `batch_limit` events after the
cursor, advance the cursor, filter, send one batch, repeat; park when nothing is left; every
commit wakes the pump. The send is awaited, so a slow subscriber holds back only its own pump
and server memory stays bounded (events are read from the engine, never queued per subscriber).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from server.types import Event

logger = logging.getLogger(__name__)

Deliver = Callable[[dict[str, Any]], Awaitable[object]]
# Called once when the connection closes; reason None = closed without a presence fact
# (kill, reset, server shutdown).
OnClosed = Callable[[str | None], None]


class EventSource(Protocol):
    """What the pump reads from (the stream engine)."""

    namespace: str
    path: str

    @property
    def state(self) -> dict[str, Any]: ...

    def read_after(self, cursor: int, limit: int) -> list[Event]: ...

    def connection_failed(self, connection: "DeliveryConnection", error: BaseException) -> None: ...


@dataclass(eq=False)
class DeliveryConnection:
    key: str
    direction: str
    cursor: int
    event_types: frozenset[str] | None
    events_enabled: bool
    deliver: Deliver
    on_closed: OnClosed
    started_at: str
    batch_limit: int
    batches_sent: int = 0
    events_sent: int = 0
    last_delivered_at: str | None = None
    closed: bool = False
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _task: "asyncio.Task[None] | None" = None

    def start(self, source: EventSource, clock: Callable[[], str]) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._pump(source, clock), name=f"delivery {source.path} {self.key}"
        )

    def wake(self) -> None:
        self._wakeup.set()

    def mark_closed(self) -> bool:
        """Flag the connection closed (the pump exits after any send in flight). False if it
        already was."""
        if self.closed:
            return False
        self.closed = True
        self._wakeup.set()
        return True

    def runtime_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "direction": self.direction,
            "startedAt": self.started_at,
            "cursor": self.cursor,
            "batchesSent": self.batches_sent,
            "eventsSent": self.events_sent,
        }
        if self.last_delivered_at is not None:
            info["lastDeliveredAt"] = self.last_delivered_at
        return info

    async def _pump(self, source: EventSource, clock: Callable[[], str]) -> None:
        first = True
        try:
            while not self.closed:
                # Cleared before reading: a commit between now and the park sets it again.
                self._wakeup.clear()
                batch_events = self._next_events(source, first)
                if batch_events is None:
                    await self._wakeup.wait()
                    continue
                state = source.state
                batch = {
                    "namespace": source.namespace,
                    "path": source.path,
                    "events": batch_events,
                    "streamMaxOffset": state["maxOffset"],
                    "state": state,
                }
                first = False
                await self.deliver(batch)
                self.batches_sent += 1
                self.events_sent += len(batch_events)
                self.last_delivered_at = clock()
                # Let appends and other connections run between batches of a long replay.
                await asyncio.sleep(0)
        except Exception as exc:
            if not self.closed:
                logger.info("delivery to subscription %s failed: %s", self.key, exc)
                source.connection_failed(self, exc)

    def _next_events(self, source: EventSource, first: bool) -> list[Event] | None:
        """The events of the next batch, or None when there is nothing to send (park)."""
        if not self.events_enabled:
            head = source.state["maxOffset"]
            if head == self.cursor and not first:
                return None
            self.cursor = head
            return []
        while True:
            read = source.read_after(self.cursor, self.batch_limit)
            if not read:
                return [] if first else None
            self.cursor = read[-1]["offset"]
            if self.event_types is None:
                return read
            # Filtered events are skipped for good; an all-filtered chunk is sent only as the
            # subscription's initial push.
            events = [e for e in read if e["type"] in self.event_types]
            if events or first:
                return events
