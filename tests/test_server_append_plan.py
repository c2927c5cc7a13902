"""The pure append planner: offsets, idempotency decisions, the gate, preconditions."""

from typing import Any

import pytest

from server.append_plan import plan_append
from server.core_state import CREATED, PAUSED, WOKEN, initial_state, reduce_events
from server.errors import StreamRequestError
from server.event_json import load_event

NOW = "2026-06-01T12:00:00.000Z"
STORED = {"type": "test.keyed", "idempotencyKey": "old", "offset": 3, "createdAt": NOW}


def booted() -> dict[str, Any]:
    return reduce_events(
        initial_state(),
        [
            {
                "type": CREATED,
                "payload": {"namespace": "d", "path": "/p"},
                "offset": 1,
                "createdAt": NOW,
            },
            {"type": WOKEN, "payload": {"incarnationId": "i"}, "offset": 2, "createdAt": NOW},
            {**STORED},
        ],
    )


def lookup(key: str) -> dict[str, Any] | None:
    return STORED if key == "old" else None


def test_plan_assigns_offsets_and_keeps_hits_in_place() -> None:
    items = [
        {"type": "test.a"},
        {"type": "test.keyed", "idempotencyKey": "old", "payload": "ignored"},
        {"type": "test.b", "idempotencyKey": "new"},
        {"type": "test.b", "idempotencyKey": "new", "payload": "dup"},
    ]
    plan = plan_append(booted(), items, stored_by_key=lookup, created_at=NOW)
    assert [r["offset"] for r in plan.results] == [4, 3, 5, 5]
    assert plan.results[1] is STORED and plan.results[3] is plan.results[2]
    assert [e["offset"] for e in plan.new_events] == [4, 5]
    assert [load_event(data) for data in plan.encoded] == plan.new_events
    assert plan.state["maxOffset"] == plan.state["eventCount"] == 5


def test_nothing_new_when_everything_hits() -> None:
    state = booted()
    plan = plan_append(
        state, [{"type": "x", "idempotencyKey": "old"}], stored_by_key=lookup, created_at=NOW
    )
    assert plan.new_events == [] and plan.state == state


def test_gate_applies_within_the_batch_but_after_idempotency() -> None:
    state = booted()
    with pytest.raises(StreamRequestError, match="stream paused: unknown reason"):
        plan_append(
            state,
            [{"type": PAUSED, "payload": {}}, {"type": "x"}],
            stored_by_key=lookup,
            created_at=NOW,
        )
    paused = plan_append(
        state, [{"type": PAUSED, "payload": {}}], stored_by_key=lookup, created_at=NOW
    ).state
    hit = plan_append(
        paused, [{"type": "x", "idempotencyKey": "old"}], stored_by_key=lookup, created_at=NOW
    )
    assert hit.results == [STORED]


def test_preconditions() -> None:
    with pytest.raises(StreamRequestError, match=r"^expected offset 4, got 9$"):
        plan_append(booted(), [{"type": "x", "offset": 9}], stored_by_key=lookup, created_at=NOW)
    with pytest.raises(StreamRequestError, match=r"^idempotency hit at offset 3, got 4$"):
        plan_append(
            booted(),
            [{"type": "x", "idempotencyKey": "old", "offset": 4}],
            stored_by_key=lookup,
            created_at=NOW,
        )
    ok = plan_append(
        booted(),
        [{"type": "x", "offset": 4}, {"type": "y", "offset": 5}],
        stored_by_key=lookup,
        created_at=NOW,
    )
    assert [e["offset"] for e in ok.new_events] == [4, 5]
