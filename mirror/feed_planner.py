"""The event-feed planner: pure grouping of events into feed rows (no I/O).

Public API:

- ``plan_feed(state, events) -> FeedPlan(ops, end_state)``: the one function both the feed
  processor's ``reduce`` (one event at a time, keeping ``end_state``) and its batch writer (the
  whole batch, executing ``ops``) use, so both paths always end in the same state.
- ``FeedState(open, next_local_index)`` with ``to_json()`` / ``FeedState.from_json(value)``;
  ``OpenGroup(local_index, first_offset, last_offset, event_count, event_type)``.
- ``FeedOp``: ``kind`` is ``"insert"`` (upsert of the whole row on ``local_index``) or
  ``"update"`` (set ``last_offset``, ``event_count``, ``data`` of an existing row).
- Constants: ``MAX_GROUP_EVENTS = 200``, ``GROUP_COMPONENT = "group"``, ``SINGLETON_COMPONENTS``
  (event type -> component of the types that get a row of their own).

Rules (reference ``grouping.ts``, newest version): ``created``, ``woken`` and
``child-stream-created`` get a row each and close any open group; any other event extends the
open group when it has the same type and fewer than 200 events, otherwise it starts a new
``group`` row. A closed group never reopens (A, B, A gives three rows). Within one plan every
row gets at most one op: a group created in this plan is one insert however many events join it,
and a group carried over from an earlier plan gets one update.

Row ``data`` (JSON): singleton rows hold ``{"events": [event]}``; group rows hold
``{"eventType": type}`` only. A group's events are exactly the ``events`` rows with ``offset``
between ``first_offset`` and ``last_offset`` (groups cover contiguous offsets), so they are read
from there on demand instead of being stored a second time: that keeps the feed's write cost and
the file size at a fraction of copying every event (see docs/architecture.md, mirror section).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

MAX_GROUP_EVENTS = 200
GROUP_COMPONENT = "group"
_PREFIX = "events.iterate.com/stream/"
SINGLETON_COMPONENTS: Mapping[str, str] = {
    f"{_PREFIX}created": "stream.created",
    f"{_PREFIX}woken": "stream.woken",
    f"{_PREFIX}child-stream-created": "stream.child-stream-created",
}


@dataclass(frozen=True, slots=True)
class OpenGroup:
    local_index: int
    first_offset: int
    last_offset: int
    event_count: int
    event_type: str


@dataclass(frozen=True, slots=True)
class FeedState:
    open: OpenGroup | None = None
    next_local_index: int = 0

    def to_json(self) -> dict[str, Any]:
        group = self.open
        return {
            "open": None
            if group is None
            else {
                "localIndex": group.local_index,
                "firstOffset": group.first_offset,
                "lastOffset": group.last_offset,
                "eventCount": group.event_count,
                "eventType": group.event_type,
            },
            "nextLocalIndex": self.next_local_index,
        }

    @classmethod
    def from_json(cls, value: Any) -> FeedState:
        """Parse a stored state; missing fields take their defaults."""
        if not isinstance(value, Mapping):
            return cls()
        raw_open = value.get("open")
        group = None
        if isinstance(raw_open, Mapping):
            group = OpenGroup(
                local_index=int(raw_open["localIndex"]),
                first_offset=int(raw_open["firstOffset"]),
                last_offset=int(raw_open["lastOffset"]),
                event_count=int(raw_open["eventCount"]),
                event_type=str(raw_open["eventType"]),
            )
        return cls(open=group, next_local_index=int(value.get("nextLocalIndex", 0)))


@dataclass(slots=True)
class FeedOp:
    """One write to one feed row; ``event`` is set for singleton rows only."""

    kind: Literal["insert", "update"]
    local_index: int
    component: str
    first_offset: int
    last_offset: int
    event_count: int
    event_type: str
    event: Mapping[str, Any] | None = None

    @property
    def data(self) -> dict[str, Any]:
        """The row's ``data`` column as JSON."""
        if self.event is not None:
            return {"events": [self.event]}
        return {"eventType": self.event_type}


@dataclass(frozen=True, slots=True)
class FeedPlan:
    ops: list[FeedOp]
    end_state: FeedState


def plan_feed(state: FeedState, events: Sequence[Mapping[str, Any]]) -> FeedPlan:
    """Fold ``events`` (new, in offset order) into feed ops starting from ``state``."""
    ops: list[FeedOp] = []
    next_index = state.next_local_index
    group = state.open
    # The open group lives in locals while folding: no allocation per extending event.
    open_index = open_first = open_last = open_count = 0
    open_type: str | None = None
    if group is not None:
        open_index, open_first = group.local_index, group.first_offset
        open_last, open_count, open_type = group.last_offset, group.event_count, group.event_type
    open_op: FeedOp | None = None
    singletons = SINGLETON_COMPONENTS
    for event in events:
        event_type = event["type"]
        offset = event["offset"]
        component = singletons.get(event_type)
        if component is not None:
            ops.append(
                FeedOp("insert", next_index, component, offset, offset, 1, event_type, event)
            )
            next_index += 1
            open_type = None
            open_op = None
        elif open_type == event_type and open_count < MAX_GROUP_EVENTS:
            open_last = offset
            open_count += 1
            if open_op is None:
                open_op = FeedOp(
                    "update",
                    open_index,
                    GROUP_COMPONENT,
                    open_first,
                    offset,
                    open_count,
                    event_type,
                )
                ops.append(open_op)
            else:
                open_op.last_offset = offset
                open_op.event_count = open_count
        else:
            open_index, open_first, open_last, open_count = next_index, offset, offset, 1
            open_type = event_type
            open_op = FeedOp("insert", next_index, GROUP_COMPONENT, offset, offset, 1, event_type)
            ops.append(open_op)
            next_index += 1
    end_open = (
        None
        if open_type is None
        else OpenGroup(open_index, open_first, open_last, open_count, open_type)
    )
    return FeedPlan(ops, FeedState(end_open, next_index))
