"""The pure feed planner: grouping rules, the 200-event cap, one op per row per batch."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mirror.feed_planner import (
    GROUP_COMPONENT,
    MAX_GROUP_EVENTS,
    FeedOp,
    FeedState,
    OpenGroup,
    plan_feed,
)

CREATED = "events.iterate.com/stream/created"
WOKEN = "events.iterate.com/stream/woken"
CHILD = "events.iterate.com/stream/child-stream-created"


def make_events(types: list[str], first_offset: int = 1) -> list[dict[str, Any]]:
    return [
        {"type": t, "offset": first_offset + i, "createdAt": "2026-06-01T12:00:00.000Z"}
        for i, t in enumerate(types)
    ]


Row = tuple[str, int, int, int, Any]


def apply_ops(table: dict[int, Row], ops: list[FeedOp]) -> None:
    """What the SQL writer does, on a dict: insert = upsert, update = last/count/data."""
    for op in ops:
        if op.kind == "insert":
            table[op.local_index] = (
                op.component,
                op.first_offset,
                op.last_offset,
                op.event_count,
                op.data,
            )
        else:
            component, first, _, _, _ = table[op.local_index]
            table[op.local_index] = (component, first, op.last_offset, op.event_count, op.data)


def test_singletons_get_their_own_rows_and_close_groups() -> None:
    plan = plan_feed(FeedState(), make_events([CREATED, WOKEN, "a", "a", CHILD, "a"]))
    table: dict[int, Row] = {}
    apply_ops(table, plan.ops)
    assert [(row[0], row[1], row[2], row[3]) for row in table.values()] == [
        ("stream.created", 1, 1, 1),
        ("stream.woken", 2, 2, 1),
        (GROUP_COMPONENT, 3, 4, 2),
        ("stream.child-stream-created", 5, 5, 1),
        (GROUP_COMPONENT, 6, 6, 1),
    ]
    assert table[0][4] == {"events": [make_events([CREATED])[0]]}
    assert table[2][4] == {"eventType": "a"}
    assert plan.end_state == FeedState(OpenGroup(4, 6, 6, 1, "a"), 5)


def test_singleton_closes_open_group() -> None:
    plan = plan_feed(FeedState(), make_events(["a", WOKEN]))
    assert plan.end_state.open is None
    plan = plan_feed(plan.end_state, make_events(["a"], first_offset=3))
    assert [(op.kind, op.local_index) for op in plan.ops] == [("insert", 2)]


def test_a_b_a_gives_three_rows() -> None:
    plan = plan_feed(FeedState(), make_events(["a", "b", "a"]))
    assert [(op.kind, op.local_index, op.event_type) for op in plan.ops] == [
        ("insert", 0, "a"),
        ("insert", 1, "b"),
        ("insert", 2, "a"),
    ]


def test_405_same_type_events_give_rows_of_200_200_5() -> None:
    plan = plan_feed(FeedState(), make_events(["a"] * 405))
    table: dict[int, Row] = {}
    apply_ops(table, plan.ops)
    assert [(row[1], row[2], row[3]) for row in table.values()] == [
        (1, 200, 200),
        (201, 400, 200),
        (401, 405, 5),
    ]
    assert sorted(table) == [0, 1, 2]
    assert plan.end_state == FeedState(OpenGroup(2, 401, 405, 5, "a"), 3)


def test_200_same_type_events_in_one_batch_give_one_op() -> None:
    plan = plan_feed(FeedState(), make_events(["a"] * MAX_GROUP_EVENTS))
    assert len(plan.ops) == 1
    op = plan.ops[0]
    assert (op.kind, op.first_offset, op.last_offset, op.event_count) == ("insert", 1, 200, 200)


def test_full_group_from_earlier_batch_rolls_over_with_an_insert() -> None:
    state = FeedState(OpenGroup(0, 1, 200, 200, "a"), 1)
    plan = plan_feed(state, make_events(["a"], first_offset=201))
    assert [(op.kind, op.local_index, op.first_offset) for op in plan.ops] == [("insert", 1, 201)]


def test_group_from_earlier_batch_gets_one_update() -> None:
    state = FeedState(OpenGroup(3, 10, 12, 3, "a"), 4)
    plan = plan_feed(state, make_events(["a", "a", "b"], first_offset=13))
    assert [(op.kind, op.local_index, op.last_offset, op.event_count) for op in plan.ops] == [
        ("update", 3, 14, 5),
        ("insert", 4, 15, 1),
    ]
    assert plan.ops[0].data == {"eventType": "a"}


def fold_one_at_a_time(types: list[str]) -> tuple[FeedState, dict[int, Row]]:
    state = FeedState()
    table: dict[int, Row] = {}
    for event in make_events(types):
        plan = plan_feed(state, [event])
        apply_ops(table, plan.ops)
        state = plan.end_state
    return state, table


def test_one_at_a_time_equals_whole_batch() -> None:
    types = [CREATED, WOKEN, "a", "a", "b", "b", "b", CHILD, "a", "c", "c"]
    whole = plan_feed(FeedState(), make_events(types))
    table: dict[int, Row] = {}
    apply_ops(table, whole.ops)
    state, single_table = fold_one_at_a_time(types)
    assert state == whole.end_state
    assert single_table == table


def test_one_at_a_time_equals_whole_batch_across_rollover_at_203() -> None:
    types = ["a"] * 203
    whole = plan_feed(FeedState(), make_events(types))
    table: dict[int, Row] = {}
    apply_ops(table, whole.ops)
    state, single_table = fold_one_at_a_time(types)
    assert state == whole.end_state == FeedState(OpenGroup(1, 201, 203, 3, "a"), 2)
    assert single_table == table
    assert table[0][2] + 1 == table[1][1]  # offsets stay contiguous across the rollover


def test_same_input_gives_same_ops() -> None:
    state = FeedState(OpenGroup(0, 1, 5, 5, "a"), 1)
    events = make_events(["a", "b", WOKEN, "b"], first_offset=6)
    assert plan_feed(state, events) == plan_feed(state, events)


def test_empty_batch_plans_nothing() -> None:
    state = FeedState(OpenGroup(0, 1, 5, 5, "a"), 1)
    plan = plan_feed(state, [])
    assert plan.ops == [] and plan.end_state == state


def test_state_json_round_trip_and_defaults() -> None:
    state = FeedState(OpenGroup(7, 100, 120, 21, "x/y"), 8)
    assert FeedState.from_json(state.to_json()) == state
    assert FeedState.from_json({}) == FeedState()
    assert FeedState.from_json(None) == FeedState()
    assert FeedState.from_json({"nextLocalIndex": 4}) == FeedState(None, 4)


@settings(max_examples=200, deadline=None)
@given(
    types=st.lists(st.sampled_from(["a", "b", CREATED, WOKEN]), max_size=600),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=8),
)
def test_any_batching_gives_the_same_table(types: list[str], cuts: list[int]) -> None:
    events = make_events(types)
    whole = plan_feed(FeedState(), events)
    whole_table: dict[int, Row] = {}
    apply_ops(whole_table, whole.ops)

    bounds = sorted({0, len(events), *(c for c in cuts if c <= len(events))})
    state = FeedState()
    table: dict[int, Row] = {}
    for start, stop in itertools.pairwise(bounds):
        plan = plan_feed(state, events[start:stop])
        indexes = [op.local_index for op in plan.ops]
        assert indexes == sorted(set(indexes))  # at most one op per row, ascending
        apply_ops(table, plan.ops)
        state = plan.end_state

    assert state == whole.end_state
    assert table == whole_table
    assert sum(row[3] for row in table.values()) == len(events)
    assert all(1 <= row[3] <= MAX_GROUP_EVENTS for row in table.values())
    assert sorted(table) == list(range(len(table)))
