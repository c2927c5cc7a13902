"""Validation of client input: append events, `reduce` events and method arguments."""

from datetime import UTC, datetime
from typing import Any

import pytest

from server.errors import StreamRequestError
from server.event_json import event_bytes, load_event, now_iso
from server.validation import (
    LIMIT_ERROR,
    parse_append,
    parse_append_batch,
    parse_get_event,
    parse_get_events,
    parse_no_arguments,
    parse_reduce,
    parse_subscribe,
    validate_committed_event,
    validate_event_input,
)
from wire.codec import UNDEFINED


def test_full_input_is_accepted_verbatim() -> None:
    event = {
        "type": "events.iterate.com/review/with-source",
        "payload": {"ok": True},
        "metadata": {"trace": "abc"},
        "source": {"processor": {"slug": "reviewer", "version": "0.1.0"}},
        "idempotencyKey": "review:42",
        "offset": 7,
    }
    assert validate_event_input(event) == event


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({"type": "x", "createdAt": "2026-06-01T12:00:00.000Z"}, 'unrecognized key(s) "createdAt"'),
        ({"type": "x", "streamPath": "a"}, 'unrecognized key(s) "streamPath"'),
        ({"type": ""}, '"type" must be a non-empty string'),
        ({"payload": 1}, '"type" must be a non-empty string'),
        ({"type": 5}, '"type" must be a non-empty string'),
        ({"type": "x", "offset": -1}, '"offset" must be an integer >= 0'),
        ({"type": "x", "offset": True}, '"offset" must be an integer >= 0'),
        ({"type": "x", "offset": None}, '"offset" must be an integer >= 0'),
        ({"type": "x", "idempotencyKey": "  "}, '"idempotencyKey" must be a non-empty string'),
        ({"type": "x", "metadata": []}, '"metadata" must be an object'),
        ({"type": "x", "source": {"processor": {"slug": "a"}}}, '"source" must be'),
        ({"type": "x", "source": {"other": 1}}, '"source" must be'),
        ("x", "must be an object"),
    ],
)
def test_bad_input_is_refused(event: Any, problem: str) -> None:
    with pytest.raises(StreamRequestError) as err:
        validate_event_input(event)
    assert problem in str(err.value)
    assert str(err.value).startswith("invalid event: ")


def test_undefined_members_count_as_absent() -> None:
    assert validate_event_input({"type": "x", "payload": UNDEFINED}) == {"type": "x"}


def test_committed_events_need_offset_and_created_at() -> None:
    ok = {"type": "x", "offset": 3, "createdAt": "2026-06-01T12:00:00.123Z"}
    assert validate_committed_event(ok) == ok
    with pytest.raises(StreamRequestError, match='"createdAt"'):
        validate_committed_event({"type": "x", "offset": 3, "createdAt": "yesterday"})
    with pytest.raises(StreamRequestError, match='"offset"'):
        validate_committed_event({"type": "x", "createdAt": "2026-06-01T12:00:00Z"})


def test_method_arguments() -> None:
    assert parse_append({"event": {"type": "x"}, "streamPath": "child"}).stream_path == "child"
    batch = parse_append_batch({"events": [{"type": "a"}, {"type": "b"}]})
    assert [e["type"] for e in batch.events] == ["a", "b"] and batch.stream_path is None
    assert parse_get_event({"offset": 3}).offset == 3
    assert parse_get_event({"idempotencyKey": "k"}).idempotency_key == "k"
    assert parse_get_events(UNDEFINED).after_offset == 0
    ranged = parse_get_events({"afterOffset": 1, "beforeOffset": 4, "limit": 2})
    assert (ranged.after_offset, ranged.before_offset, ranged.limit) == (1, 4, 2)
    sub = parse_subscribe(
        {"processEventBatch": print, "eventTypes": ["a", "b"], "events": False, "subscriber": {}}
    )
    assert sub.event_types == frozenset({"a", "b"}) and sub.events is False
    assert (
        parse_subscribe({"processEventBatch": print, "eventTypes": ["*", "a"]}).event_types is None
    )
    reduced = parse_reduce({"event": {"type": "x", "offset": 3, "createdAt": now_iso()}})
    assert reduced.core_state is None
    parse_no_arguments("kill", UNDEFINED)
    parse_no_arguments("kill", {})


@pytest.mark.parametrize(
    ("parse", "args", "message"),
    [
        (parse_append, None, "append expects one object argument"),
        (parse_append, [], "append expects one object argument"),
        (parse_append, {}, 'append: "event" is required'),
        (
            parse_append,
            {"event": {"type": "x"}, "extra": 1},
            'unrecognized argument key(s) "extra"',
        ),
        (parse_append, {"event": {"type": "x"}, "streamPath": 3}, '"streamPath" must be a string'),
        (parse_append_batch, {"events": {"type": "x"}}, '"events" must be an array'),
        (parse_get_event, {}, "exactly one of"),
        (parse_get_event, {"offset": 1, "idempotencyKey": "k"}, "exactly one of"),
        (parse_get_event, {"offset": "1"}, '"offset" must be an integer'),
        (parse_get_events, {"limit": 0}, LIMIT_ERROR),
        (parse_get_events, {"limit": 1.5}, LIMIT_ERROR),
        (parse_get_events, {"afterOffset": "a"}, '"afterOffset" must be an integer'),
        (parse_subscribe, {}, '"processEventBatch" is required'),
        (parse_subscribe, {"processEventBatch": print, "events": "no"}, '"events" must be'),
        (parse_subscribe, {"processEventBatch": print, "eventTypes": "a"}, '"eventTypes"'),
        (parse_reduce, {"event": {"type": "x"}}, '"offset"'),
    ],
)
def test_bad_arguments_get_clear_errors(parse: Any, args: Any, message: str) -> None:
    with pytest.raises(StreamRequestError) as err:
        parse(args)
    assert message in str(err.value)


def test_no_argument_methods_refuse_arguments() -> None:
    with pytest.raises(StreamRequestError, match="kill takes no arguments"):
        parse_no_arguments("kill", {"now": True})


def test_timestamps_look_like_js_iso_strings() -> None:
    stamp = now_iso()
    assert len(stamp) == 24 and stamp.endswith("Z") and stamp[19] == "."


def test_event_bytes_round_trip_and_json_mapping() -> None:
    event = {"type": "x", "payload": {"a": [1, 2], "s": "é"}, "offset": 3, "createdAt": now_iso()}
    data, same = event_bytes(event)
    assert same is event and load_event(data) == event
    moment = datetime(2026, 6, 1, 12, 0, 0, 123000, tzinfo=UTC)
    odd = {"type": "x", "payload": {"when": moment, "gone": UNDEFINED, "list": [UNDEFINED, 1]}}
    data, plain = event_bytes(odd)
    assert plain == {
        "type": "x",
        "payload": {"when": "2026-06-01T12:00:00.123Z", "list": [None, 1]},
    }
    assert load_event(data) == plain
    with pytest.raises(StreamRequestError, match="bytes"):
        event_bytes({"type": "x", "payload": b"raw"})
