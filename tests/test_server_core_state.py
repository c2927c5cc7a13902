"""The core processor's pure rules: reducer, payload validation, pause gate, path helpers."""

from typing import Any

import pytest

from server.core_state import (
    CHILD_STREAM_CREATED,
    CONFIGURED,
    CREATED,
    CREATED_OFFSET_ERROR,
    ERROR_OCCURRED,
    METADATA_UPDATED,
    PAUSED,
    RESUMED,
    SUBSCRIBER_CONNECTED,
    SUBSCRIBER_DISCONNECTED,
    SUBSCRIPTION_CONFIGURED,
    WOKEN,
    ancestors,
    check_append_allowed,
    immediate_child,
    initial_state,
    reduce_event,
    reduce_events,
)
from server.errors import StreamRequestError

T0 = "2026-06-01T12:00:00.000Z"


def committed(offset: int, event_type: str, payload: Any = None, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"type": event_type}
    if payload is not None:
        event["payload"] = payload
    event.update(extra)
    event["offset"] = offset
    event["createdAt"] = T0 if offset == 1 else f"2026-06-01T12:00:0{min(offset, 9)}.000Z"
    return event


def booted(path: str = "/a") -> dict[str, Any]:
    return reduce_events(
        initial_state(),
        [
            committed(1, CREATED, {"namespace": "default", "path": path}),
            committed(2, WOKEN, {"incarnationId": "inc-1"}),
        ],
    )


def test_created_and_woken_fold_identity_and_counts() -> None:
    state = booted("/e2e/foo")
    assert state["namespace"] == "default"
    assert state["path"] == "/e2e/foo"
    assert state["createdAt"] == T0
    assert state["incarnationId"] == "inc-1"
    assert state["eventCount"] == state["maxOffset"] == 2


def test_initial_state_has_placeholders() -> None:
    state = initial_state()
    assert state["namespace"] == state["path"] == state["createdAt"] == "uninitialized"
    assert state["eventCount"] == 0 and state["paused"] is False and state["pauseReason"] is None


def test_reduce_never_mutates_its_input() -> None:
    state = booted()
    before = repr(state)
    reduce_event(state, committed(3, CONFIGURED, {"config": {"simulatedStorageSyncDelayMs": 25}}))
    reduce_event(
        state, committed(3, SUBSCRIBER_CONNECTED, {"subscriptionKey": "k", "direction": "inbound"})
    )
    assert repr(state) == before


def test_created_only_at_offset_one() -> None:
    with pytest.raises(StreamRequestError) as err:
        reduce_event(booted(), committed(3, CREATED, {"namespace": "default", "path": "/a"}))
    assert str(err.value) == CREATED_OFFSET_ERROR


def test_configured_merges_and_metadata_replaces() -> None:
    state = reduce_events(
        booted(),
        [
            committed(3, CONFIGURED, {"config": {"simulatedStorageSyncDelayMs": 25}}),
            committed(4, CONFIGURED, {"config": {"other": True}}),
            committed(5, METADATA_UPDATED, {"metadata": {"a": 1}}),
            committed(6, METADATA_UPDATED, {"metadata": {"b": 2}}),
        ],
    )
    assert state["config"] == {"simulatedStorageSyncDelayMs": 25, "other": True}
    assert state["metadata"] == {"b": 2}


def test_child_stream_created_keeps_only_immediate_children() -> None:
    state = reduce_events(
        booted("/a"),
        [
            committed(3, CHILD_STREAM_CREATED, {"childPath": "/a/b/c"}),
            committed(4, CHILD_STREAM_CREATED, {"childPath": "/a/b"}),
            committed(5, CHILD_STREAM_CREATED, {"childPath": "/elsewhere/x"}),
            committed(6, CHILD_STREAM_CREATED, {"childPath": "/a"}),
            committed(7, CHILD_STREAM_CREATED, {"childPath": "/a/d"}),
        ],
    )
    assert state["childPaths"] == ["/a/b", "/a/d"]


def test_root_lists_first_level_children() -> None:
    state = reduce_event(booted("/"), committed(3, CHILD_STREAM_CREATED, {"childPath": "/x/y"}))
    assert state["childPaths"] == ["/x"]


def test_presence_roster_and_processor_announcements() -> None:
    announcement = {
        "slug": "echo",
        "version": "1.0.0",
        "description": "echoes",
        "consumes": ["a"],
        "emits": ["b"],
        "ownedEvents": [{"type": "b"}],
    }
    state = reduce_events(
        booted(),
        [
            committed(
                3,
                SUBSCRIBER_CONNECTED,
                {
                    "subscriptionKey": "k1",
                    "direction": "inbound",
                    "subscriber": {"description": "browser", "processor": announcement},
                },
            ),
            committed(4, SUBSCRIBER_CONNECTED, {"subscriptionKey": "k2", "direction": "outbound"}),
            committed(5, SUBSCRIBER_DISCONNECTED, {"subscriptionKey": "k2", "reason": "idle"}),
        ],
    )
    assert state["connectionsByKey"] == {
        "k1": {
            "direction": "inbound",
            "connectedAtOffset": 3,
            "subscriber": {"description": "browser", "processor": announcement},
        }
    }
    assert state["processorsBySlug"] == {
        "echo": {"announcedAtOffset": 3, "announcement": announcement}
    }
    woken_again = reduce_event(state, committed(6, WOKEN, {"incarnationId": "inc-2"}))
    assert woken_again["connectionsByKey"] == {}
    assert woken_again["incarnationId"] == "inc-2"


def test_subscription_configured_records_latest_event() -> None:
    payload = {"subscriptionKey": "s", "subscriber": {"type": "callable", "callable": {"x": 1}}}
    state = reduce_event(booted(), committed(3, SUBSCRIPTION_CONFIGURED, payload))
    latest = state["subscriptionsByKey"]["s"]["latestConfiguredEvent"]
    assert latest["offset"] == 3 and latest["payload"] == payload


def test_pause_gate() -> None:
    paused = reduce_event(booted(), committed(3, PAUSED, {"reason": "circuit breaker"}))
    assert paused["paused"] is True and paused["pauseReason"] == "circuit breaker"
    with pytest.raises(StreamRequestError, match=r"^stream paused: circuit breaker$"):
        check_append_allowed(paused, "test.x")
    with pytest.raises(StreamRequestError, match="stream paused"):
        check_append_allowed(paused, PAUSED)
    for allowed in (RESUMED, ERROR_OCCURRED, WOKEN, SUBSCRIBER_CONNECTED, SUBSCRIBER_DISCONNECTED):
        check_append_allowed(paused, allowed)
    no_reason = reduce_event(booted(), committed(3, PAUSED, {}))
    with pytest.raises(StreamRequestError, match=r"^stream paused: unknown reason$"):
        check_append_allowed(no_reason, "test.x")
    resumed = reduce_event(paused, committed(4, RESUMED, {}))
    assert resumed["paused"] is False and resumed["pauseReason"] is None
    check_append_allowed(resumed, "test.x")


def test_error_occurred_only_counts() -> None:
    state = booted()
    after = reduce_event(state, committed(3, ERROR_OCCURRED, {"message": "boom"}))
    assert {k: v for k, v in after.items() if k not in ("eventCount", "maxOffset")} == {
        k: v for k, v in state.items() if k not in ("eventCount", "maxOffset")
    }
    assert after["eventCount"] == after["maxOffset"] == 3


@pytest.mark.parametrize(
    ("event_type", "payload", "problem"),
    [
        (PAUSED, {"reason": ""}, '"reason" must be a non-empty string'),
        (PAUSED, None, "payload must be an object"),
        (WOKEN, {}, '"incarnationId" is required'),
        (CONFIGURED, {"config": {"simulatedStorageSyncDelayMs": -1}}, "integer >= 0"),
        (CONFIGURED, {"config": 3}, '"config" must be an object'),
        (METADATA_UPDATED, {"metadata": []}, '"metadata" must be an object'),
        (CHILD_STREAM_CREATED, {"childPath": ""}, '"childPath"'),
        (SUBSCRIBER_CONNECTED, {"subscriptionKey": "k", "direction": "sideways"}, "direction"),
        (
            SUBSCRIBER_CONNECTED,
            {"subscriptionKey": "k", "direction": "inbound", "subscriber": {"incarnationId": ""}},
            "incarnationId",
        ),
        (SUBSCRIBER_DISCONNECTED, {"subscriptionKey": "k", "reason": "bored"}, '"reason"'),
        (
            SUBSCRIPTION_CONFIGURED,
            {"subscriptionKey": "k", "subscriber": {"type": "external-url", "url": "x"}},
            '"subscriber.type" must be "callable"',
        ),
        (ERROR_OCCURRED, {"message": ""}, '"message"'),
    ],
)
def test_core_payloads_are_validated(event_type: str, payload: Any, problem: str) -> None:
    with pytest.raises(StreamRequestError) as err:
        reduce_event(booted(), committed(3, event_type, payload))
    assert str(err.value).startswith(f"invalid {event_type} payload: ")
    assert problem in str(err.value)


def test_other_types_are_opaque() -> None:
    state = reduce_event(booted(), committed(3, "events.iterate.com/stream/unknown-kind", 5))
    assert state["maxOffset"] == 3
    state = reduce_event(state, committed(4, "test.x", ["any", "json"]))
    assert state["eventCount"] == 4


def test_path_helpers() -> None:
    assert ancestors("/") == []
    assert ancestors("/a") == ["/"]
    assert ancestors("/a/b/c") == ["/", "/a", "/a/b"]
    assert immediate_child("/", "/a/b") == "/a"
    assert immediate_child("/a", "/a/b/c") == "/a/b"
    assert immediate_child("/a", "/ab") is None
    assert immediate_child("/a", "/a") is None
