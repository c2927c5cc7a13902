"""The stream engine: one live stream (namespace, path) over its SQLite storage.

Appends are synchronous and run on the event loop thread, so they are totally ordered and a batch
is planned, validated, committed and reduced with no other request in between (the reference
Durable Object has the same property). Deliveries are asyncio tasks (`server.delivery`).
"""

import logging
import time
import uuid
from collections.abc import Iterable
from typing import Any, Final

import orjson

from server.append_plan import plan_append
from server.core_state import (
    CORE_STATE_VERSION,
    CREATED,
    SUBSCRIBER_CONNECTED,
    SUBSCRIBER_DISCONNECTED,
    WOKEN,
    CoreState,
    apply_event,
    initial_state,
    reduce_event,
)
from server.delivery import Deliver, DeliveryConnection, OnClosed
from server.errors import StreamRequestError
from server.event_json import load_event, now_iso, wire_event
from server.outbound import OutboundManager
from server.storage import EventRow, StreamStorage, delete_stream_files
from server.types import Event
from server.validation import validate_committed_event, validate_event_input

logger = logging.getLogger(__name__)


DEFAULT_DELIVERY_BATCH_LIMIT: Final = 100
# Recently committed events kept decoded, so live deliveries and tail reads skip SQLite.
_TAIL_MAX_EVENTS: Final = 1024
_TAIL_MAX_BYTES: Final = 4 * 1024 * 1024


class StreamEngine:
    """A live stream. Create it with `StreamEngine.wake`, drop it with `shutdown`."""

    def __init__(
        self,
        namespace: str,
        path: str,
        storage: StreamStorage,
        *,
        delivery_batch_limit: int = DEFAULT_DELIVERY_BATCH_LIMIT,
    ) -> None:
        self.namespace = namespace
        self.path = path
        self._storage = storage
        self._delivery_batch_limit = delivery_batch_limit
        self._state = _load_state(storage)
        self._tail: list[Event] = []
        self._tail_sizes: list[int] = []
        self._tail_bytes = 0
        self._connections: dict[str, DeliveryConnection] = {}
        self.created_on_wake = False
        # Set by the registry once the stream is awake; dials the configured subscribers.
        self.outbound: OutboundManager | None = None
        # When a request last asked for this engine (``time.monotonic()``; the registry sets it).
        self.last_used = time.monotonic()

    @classmethod
    def wake(
        cls,
        namespace: str,
        path: str,
        storage: StreamStorage,
        *,
        delivery_batch_limit: int = DEFAULT_DELIVERY_BATCH_LIMIT,
    ) -> "StreamEngine":
        """Start an incarnation: `created` on an empty stream, then always a new `woken`."""
        engine = cls(namespace, path, storage, delivery_batch_limit=delivery_batch_limit)
        boot: list[Event] = []
        if engine._state["eventCount"] == 0:
            boot.append({"type": CREATED, "payload": {"namespace": namespace, "path": path}})
            engine.created_on_wake = True
        boot.append({"type": WOKEN, "payload": {"incarnationId": str(uuid.uuid4())}})
        engine.append_batch(boot)
        return engine

    # --- state ---------------------------------------------------------------------------

    @property
    def state(self) -> CoreState:
        """The current core state (never mutated; a new dict replaces it on every commit)."""
        return self._state

    @property
    def max_offset(self) -> int:
        value: int = self._state["maxOffset"]
        return value

    @property
    def has_connections(self) -> bool:
        return bool(self._connections)

    def runtime_state(self) -> dict[str, Any]:
        return {
            "coreProcessorState": self._state,
            "runtime": {"connections": {k: c.runtime_info() for k, c in self._connections.items()}},
        }

    def reduce(self, event: Any, core_state: CoreState | None = None) -> CoreState:
        """Dry run: fold a committed-shaped event into `core_state` (default: current)."""
        committed = validate_committed_event(event)
        base = self._state if core_state is None else _checked_state(core_state)
        return reduce_event(base, committed)

    # --- appends -------------------------------------------------------------------------

    def append(self, event: Any) -> Event:
        return self._append_valid([validate_event_input(event)])[0]

    def append_batch(self, inputs: Iterable[Any]) -> list[Event]:
        """Append events all-or-nothing; returns one committed event per input, in order."""
        return self._append_valid(
            [validate_event_input(item, f"event at index {i}") for i, item in enumerate(inputs)]
        )

    def _append_valid(self, items: list[Event]) -> list[Event]:
        plan = plan_append(
            self._state, items, stored_by_key=self._stored_by_key, created_at=now_iso()
        )
        if plan.new_events:
            rows = [
                EventRow(e["offset"], e["type"], e["createdAt"], e.get("idempotencyKey"), data)
                for e, data in zip(plan.new_events, plan.encoded, strict=True)
            ]
            self._storage.append(rows, orjson.dumps(plan.state), CORE_STATE_VERSION)
            self._state = plan.state
            self._remember(plan.new_events, plan.encoded)
            for connection in self._connections.values():
                connection.wake()
            if self.outbound is not None:
                self.outbound.after_commit(plan.new_events)
        return plan.results

    # --- reads ---------------------------------------------------------------------------

    def get_event(self, offset: int) -> Event:
        found = self._read_range(offset - 1, offset + 1, 1)
        if not found:
            raise StreamRequestError(f"No stream event found at offset {offset}.")
        return found[0]

    def get_event_by_key(self, idempotency_key: str) -> Event | None:
        return self._stored_by_key(idempotency_key)

    def get_events(
        self, after_offset: int = 0, before_offset: int | None = None, limit: int | None = None
    ) -> list[Event]:
        """Events with `after_offset < offset < before_offset`, ascending, at most `limit`."""
        return self._read_range(after_offset, before_offset, limit)

    def get_events_for_wire(
        self, after_offset: int = 0, before_offset: int | None = None, limit: int | None = None
    ) -> list[Event | orjson.Fragment]:
        """`get_events` as an RPC answer sends it: events read from storage mostly stay the
        JSON bytes they were stored as (`server.event_json.wire_event`)."""
        cached = self._tail_range(after_offset, before_offset, limit)
        if cached is not None:
            return list(cached)
        return [
            wire_event(data) for data in self._storage.range(after_offset, before_offset, limit)
        ]

    def read_after(self, cursor: int, limit: int) -> list[Event]:
        return self._read_range(cursor, None, limit)

    def _read_range(self, after: int, before: int | None, limit: int | None) -> list[Event]:
        cached = self._tail_range(after, before, limit)
        if cached is not None:
            return cached
        return [load_event(data) for data in self._storage.range(after, before, limit)]

    def _tail_range(self, after: int, before: int | None, limit: int | None) -> list[Event] | None:
        """The range from the cached tail, or None when it starts before the tail."""
        after = max(after, 0)
        tail_first = self._tail[0]["offset"] if self._tail else self.max_offset + 1
        if after + 1 < tail_first:
            return None
        start = after + 1 - tail_first
        end = len(self._tail) if before is None else max(start, before - tail_first)
        if limit is not None:
            end = min(end, start + limit)
        return self._tail[start:end]

    def _stored_by_key(self, idempotency_key: str) -> Event | None:
        data = self._storage.get_by_key(idempotency_key)
        return None if data is None else load_event(data)

    def _remember(self, events: list[Event], encoded: list[bytes]) -> None:
        self._tail.extend(events)
        sizes = [len(data) for data in encoded]
        self._tail_sizes.extend(sizes)
        self._tail_bytes += sum(sizes)
        if len(self._tail) <= _TAIL_MAX_EVENTS and self._tail_bytes <= _TAIL_MAX_BYTES:
            return
        # Trim to half the budget at once, so trimming is amortised over many commits.
        keep_events, keep_bytes, cut = 0, 0, len(self._tail)
        while cut > 0:
            size = self._tail_sizes[cut - 1]
            if keep_events + 1 > _TAIL_MAX_EVENTS // 2 or keep_bytes + size > _TAIL_MAX_BYTES // 2:
                break
            keep_events += 1
            keep_bytes += size
            cut -= 1
        del self._tail[:cut]
        del self._tail_sizes[:cut]
        self._tail_bytes = keep_bytes

    # --- subscriptions -------------------------------------------------------------------

    def subscribe(
        self,
        deliver: Deliver,
        *,
        on_closed: OnClosed,
        subscription_key: str | None = None,
        replay_after_offset: int | None = None,
        event_types: frozenset[str] | None = None,
        events: bool = True,
        subscriber: dict[str, Any] | None = None,
        direction: str = "inbound",
    ) -> DeliveryConnection:
        """Open a delivery connection (its `key` is the subscription key; `max_offset` right
        after this returns is the reply's `streamMaxOffset`).

        Order as in the reference: replace a live connection with the same key, fix the cursor,
        register, append `subscriber-connected`, then start the pump.
        """
        key = (subscription_key or "").strip() or str(uuid.uuid4())
        connected: dict[str, Any] = {"subscriptionKey": key, "direction": direction}
        if subscriber is not None:
            connected["subscriber"] = subscriber
        # Checked before anything changes, so a bad descriptor refuses the subscription.
        reduce_event(self._state, _fact(SUBSCRIBER_CONNECTED, connected, self.max_offset + 1))
        previous = self._connections.get(key)
        if previous is not None:
            self.close_connection(previous, "replaced")
        if not events or replay_after_offset is None:
            cursor = self.max_offset
        else:
            cursor = max(replay_after_offset, 0)
        connection = DeliveryConnection(
            key=key,
            direction=direction,
            cursor=cursor,
            event_types=event_types,
            events_enabled=events,
            deliver=deliver,
            on_closed=on_closed,
            started_at=now_iso(),
            batch_limit=self._delivery_batch_limit,
        )
        self._connections[key] = connection
        self._append_fact(SUBSCRIBER_CONNECTED, connected)
        connection.start(self, now_iso)
        return connection

    def close_connection(self, connection: DeliveryConnection, reason: str) -> None:
        """Close one connection and record `subscriber-disconnected` with `reason`."""
        if not connection.mark_closed():
            return
        if self._connections.get(connection.key) is connection:
            del self._connections[connection.key]
        self._append_fact(
            SUBSCRIBER_DISCONNECTED, {"subscriptionKey": connection.key, "reason": reason}
        )
        connection.on_closed(reason)

    def connection_failed(self, connection: DeliveryConnection, error: BaseException) -> None:
        """A delivery failed: inbound deliveries fail only when the session is gone; an
        outbound one also when the subscriber rejected it (`delivery-failed`)."""
        reason = "rpc-broken"
        if connection.direction == "outbound" and self.outbound is not None:
            reason = self.outbound.failure_reason(error)
        self.close_connection(connection, reason)

    def outbound_connections(self) -> list[DeliveryConnection]:
        return [c for c in self._connections.values() if c.direction == "outbound"]

    def connection(self, key: str) -> DeliveryConnection | None:
        """The live connection with this subscription key, if any."""
        return self._connections.get(key)

    def _append_fact(self, event_type: str, payload: dict[str, Any]) -> None:
        # Presence facts carry no idempotency key and pass the pause gate; a failure to record
        # one must not stop the connection from opening or closing.
        try:
            self.append_batch([{"type": event_type, "payload": payload}])
        except Exception:
            logger.exception("could not record %s on %s", event_type, self.path)

    # --- lifecycle -----------------------------------------------------------------------

    def shutdown(self) -> None:
        """End this incarnation: drop every connection without presence facts (they died with
        it) and close storage."""
        if self.outbound is not None:
            self.outbound.shutdown()
        dropped = list(self._connections.values())
        self._connections.clear()
        for connection in dropped:
            if connection.mark_closed():
                connection.on_closed(None)
        self._storage.close()

    def destroy(self) -> None:
        """Shut down and delete every file of the stream (reset)."""
        self.shutdown()
        delete_stream_files(self._storage.file)


def _fact(event_type: str, payload: dict[str, Any], offset: int) -> Event:
    return {"type": event_type, "payload": payload, "offset": offset, "createdAt": now_iso()}


def _checked_state(core_state: CoreState) -> CoreState:
    missing = initial_state().keys() - core_state.keys()
    if missing:
        raise StreamRequestError(f"coreProcessorState is missing {', '.join(sorted(missing))}")
    return core_state


def _load_state(storage: StreamStorage) -> CoreState:
    """The snapshot if it has the current version, else a rebuild from the log; then catch up
    on logged events the snapshot does not cover. Replays never run side effects."""
    snapshot = storage.read_state()
    state: CoreState | None = None
    if snapshot is not None and snapshot.version == CORE_STATE_VERSION:
        try:
            loaded = orjson.loads(snapshot.data)
        except orjson.JSONDecodeError:
            loaded = None
        if isinstance(loaded, dict) and not initial_state().keys() - loaded.keys():
            state = loaded
    stale = state is None
    working = dict(state) if state is not None else initial_state()
    caught_up = 0
    for data in storage.iter_after(working["maxOffset"]):
        apply_event(working, load_event(data))
        caught_up += 1
    if caught_up or (stale and snapshot is not None):
        logger.info(
            "stream %s: state %s (%d events replayed)",
            storage.file.name,
            "rebuilt from the log" if stale else "caught up",
            caught_up,
        )
        storage.write_state(orjson.dumps(working), CORE_STATE_VERSION)
    return working
