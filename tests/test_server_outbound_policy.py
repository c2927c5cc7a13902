"""The pure decisions of outbound subscriptions: callables, reconciliation, re-dial delays."""

import pytest

from server.callables import CallableError, CallableKind, parse_callable
from server.outbound_policy import (
    TRANSITIONS,
    InvalidTransition,
    LinkState,
    LinkView,
    Trigger,
    check_transition,
    idle_teardown_seconds,
    plan_reconcile,
    reconcile_trigger,
    redial_delay,
)


def test_callable_kinds() -> None:
    binding = parse_callable(
        {
            "type": "workers-rpc",
            "via": {
                "type": "env-binding",
                "bindingName": "STREAM_PROCESSOR_RUNNER",
                "durableObject": {"name": "runner-1"},
            },
            "rpcMethod": "requestStreamSubscription",
            "argsMode": "object",
            "transformInput": {"shallowMerge": {"processorName": "echo-example"}},
        }
    )
    assert binding.kind is CallableKind.BINDING
    assert (binding.binding_name, binding.object_name) == ("STREAM_PROCESSOR_RUNNER", "runner-1")
    assert binding.merge == {"processorName": "echo-example"}
    socket = parse_callable(
        {"type": "capnweb-websocket", "url": "ws://user:pw@h:9/p?t=secret", "rpcMethod": "go"}
    )
    assert socket.kind is CallableKind.WEBSOCKET and socket.merge == {}
    assert "secret" not in socket.describe() and "pw" not in socket.describe()
    with pytest.raises(CallableError, match=r"public method name"):
        parse_callable({"type": "capnweb-websocket", "url": "ws://h/", "rpcMethod": "_hidden"})
    with pytest.raises(CallableError, match="shallowMerge"):
        parse_callable(
            {"type": "capnweb-websocket", "url": "ws://h/", "rpcMethod": "a", "transformInput": 1}
        )


def test_reconcile_dials_missing_and_closes_removed() -> None:
    links = {
        "gone": LinkView(LinkState.CONNECTED, 3),
        "live": LinkView(LinkState.CONNECTED, 4),
        "dialing": LinkView(LinkState.DIALING, 5),
        "failed": LinkView(LinkState.WAITING, 6),
        "idle": LinkView(LinkState.IDLE, 7),
    }
    configured = {"live": 4, "dialing": 9, "failed": 6, "idle": 7, "new": 8}
    plan = plan_reconcile(configured, links, include_waiting=False)
    assert plan.close == ("gone",)
    # `dialing` has a dial in flight even though its config changed; `failed` waits its timer.
    assert plan.dial == ("idle", "new")
    plan = plan_reconcile(configured, links, include_waiting=True)
    assert plan.dial == ("failed", "idle", "new")


def test_reconfigured_key_is_dialed_again() -> None:
    links = {"k": LinkView(LinkState.CONNECTED, 4)}
    assert plan_reconcile({"k": 10}, links, include_waiting=False).dial == ("k",)
    assert plan_reconcile({"k": 4}, links, include_waiting=True).dial == ()


def test_triggers() -> None:
    stream = "events.iterate.com/stream/"
    assert reconcile_trigger(stream + "woken") is Trigger.REDIAL
    assert reconcile_trigger(stream + "subscription-configured") is Trigger.RECONCILE
    assert reconcile_trigger("app.order-placed") is Trigger.REDIAL
    for quiet in ("subscriber-connected", "subscriber-disconnected", "paused", "resumed"):
        assert reconcile_trigger(stream + quiet) is None


def test_transition_table() -> None:
    assert check_transition(LinkState.IDLE, LinkState.DIALING) is LinkState.DIALING
    with pytest.raises(InvalidTransition):
        check_transition(LinkState.IDLE, LinkState.CONNECTED)
    with pytest.raises(InvalidTransition):
        check_transition(LinkState.WAITING, LinkState.IDLE)
    # Every state can reach a dial again: a link never gets stuck.
    for state, targets in TRANSITIONS.items():
        assert state is LinkState.DIALING or LinkState.DIALING in targets


def test_redial_delays_and_idle_teardown_setting() -> None:
    assert [redial_delay(n) for n in (1, 2, 3, 4)] == [0.0, 0.25, 0.5, 1.0]
    assert redial_delay(50) == 30.0
    assert idle_teardown_seconds({}) == 300.0
    assert idle_teardown_seconds({"STREAM_IDLE_TEARDOWN_MS": "1500"}) == 1.5
    assert idle_teardown_seconds({"STREAM_IDLE_TEARDOWN_MS": "soon"}) == 300.0
    assert idle_teardown_seconds({"STREAM_IDLE_TEARDOWN_MS": "0"}) == 300.0
