"""Outbound subscriptions on the real embedded server, dialing the in-process runner of the
built-in processors (reference server-protocol.md §4.9-§4.10; scenarios 2, 34, 35, 42, 54)."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from processor_support import (
    disconnect_reasons,
    of_type,
    outbound_connects,
    wait_for_events,
)
from server_support import PAUSED, RESUMED

from mirror.builtin_processors import BUILTIN_PROCESSORS, builtin_bindings
from mirror.builtin_processors.circuit_breaker import circuit_breaker_configured
from mirror.builtin_processors.echo import INPUT, OUTPUT
from mirror.hosting.checkpoints import CheckpointFile
from mirror.hosting.config import RUNNER_BINDING, runner_subscription
from mirror.hosting.hosted import HostedProcessor
from mirror.hosting.runner import ProcessorRunner
from mirror.processor import EventBatch
from server.run import EmbeddedServer
from wire.stream_client import StreamClient, StreamError

PATH = "/e2e/outbound"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[StreamClient]:
    bindings = builtin_bindings(tmp_path / "checkpoints.sqlite3")
    server = EmbeddedServer(tmp_path / "server", bindings=bindings)
    async with server, StreamClient(server.url, PATH) as stream_client:
        yield stream_client


async def test_hosted_echo_processor_answers_inputs(client: StreamClient) -> None:
    await client.append(runner_subscription("echo-example", "echo:runner-1"))
    for n in range(3):
        await client.append({"type": INPUT, "payload": {"n": n}})
    events = await wait_for_events(client, lambda ev: len(of_type(ev, OUTPUT)) == 3, 4.0)
    outputs = of_type(events, OUTPUT)
    assert [o["payload"]["seen"] for o in outputs] == [1, 2, 3]
    inputs = of_type(events, INPUT)
    assert [o["payload"]["inputOffset"] for o in outputs] == [i["offset"] for i in inputs]
    assert outputs[0]["source"] == {"processor": {"slug": "echo-example", "version": "1"}}
    state = await client.runtime_state()
    assert state["runtime"]["connections"]["echo:runner-1"]["direction"] == "outbound"
    announced = state["coreProcessorState"]["processorsBySlug"]["echo-example"]
    assert announced["announcement"]["consumes"] == [INPUT]


async def test_circuit_breaker_burst_one_pauses_within_ten_seconds(client: StreamClient) -> None:
    await client.append(runner_subscription("circuit-breaker", "circuit-breaker"))
    await client.append(circuit_breaker_configured(1, 1))
    await client.append({"type": "test.first", "payload": {}})
    second = await client.append({"type": "test.second", "payload": {}})
    events = await wait_for_events(client, lambda ev: bool(of_type(ev, PAUSED)), 10.0)
    paused = of_type(events, PAUSED)
    assert len(paused) == 1 and paused[0]["offset"] > second["offset"]
    assert "circuit breaker" in paused[0]["payload"]["reason"]
    state = (await client.runtime_state())["coreProcessorState"]
    assert state["paused"] is True and "circuit breaker" in state["pauseReason"]
    with pytest.raises(StreamError, match=r"^stream paused: circuit breaker"):
        await client.append({"type": "test.third", "payload": {}})
    # An operator resume clears the debt; the next over-budget append pauses again.
    await client.append({"type": RESUMED, "payload": {"reason": "operator resume"}})
    await client.append({"type": "test.fourth", "payload": {}})
    await wait_for_events(client, lambda ev: len(of_type(ev, PAUSED)) == 2, 10.0)


async def test_configuring_twice_appends_nothing_new(client: StreamClient) -> None:
    first = await client.append(runner_subscription("echo-example", "echo"))
    again = await client.append(runner_subscription("echo-example", "echo"))
    assert again["offset"] == first["offset"]
    limits = await client.append(circuit_breaker_configured(2, 5))
    assert (await client.append(circuit_breaker_configured(2, 5)))["offset"] == limits["offset"]


@pytest.mark.parametrize(
    ("callable_", "problem"),
    [
        ({"type": "built-in", "name": "echo"}, "unsupported"),
        ({"type": "external-url", "url": "https://x", "rpcMethod": "go"}, "unsupported"),
        ({"type": "capnweb-websocket", "url": "http://x/", "rpcMethod": "go"}, "ws://"),
        ({"type": "workers-rpc", "via": {"type": "fetch"}, "rpcMethod": "go"}, "env-binding"),
        ({"type": "workers-rpc", "via": {"type": "env-binding"}, "rpcMethod": "go"}, "binding"),
        ({"type": "capnweb-websocket", "url": "ws://h/"}, "rpcMethod"),
        (
            {"type": "capnweb-websocket", "url": "ws://h/", "rpcMethod": "a", "argsMode": "list"},
            "argsMode",
        ),
    ],
)
async def test_unsupported_callables_are_rejected_on_append(
    client: StreamClient, callable_: dict[str, Any], problem: str
) -> None:
    before = (await client.runtime_state())["coreProcessorState"]["maxOffset"]
    event = {
        "type": "events.iterate.com/stream/subscription-configured",
        "payload": {
            "subscriptionKey": "k",
            "subscriber": {"type": "callable", "callable": callable_},
        },
    }
    with pytest.raises(
        StreamError, match=r"^invalid events\.iterate\.com/stream/subscription-configured payload"
    ) as err:
        await client.append(event)
    assert problem in str(err.value)
    state = (await client.runtime_state())["coreProcessorState"]
    assert state["maxOffset"] == before and state["subscriptionsByKey"] == {}


async def test_kill_redials_and_the_processor_resumes_from_its_checkpoint(
    client: StreamClient,
) -> None:
    await client.append(runner_subscription("echo-example", "echo"))
    await client.append({"type": INPUT, "payload": {}})
    await wait_for_events(client, lambda ev: len(of_type(ev, OUTPUT)) == 1, 4.0)
    await client.kill()
    await client.append({"type": INPUT, "payload": {}})
    events = await wait_for_events(client, lambda ev: len(of_type(ev, OUTPUT)) == 2, 4.0)
    assert [o["payload"]["seen"] for o in of_type(events, OUTPUT)] == [1, 2]
    assert outbound_connects(events, "echo") == 2


async def test_idle_teardown_closes_outbound_and_the_next_append_redials(tmp_path: Path) -> None:
    bindings = builtin_bindings(tmp_path / "checkpoints.sqlite3")
    server = EmbeddedServer(tmp_path / "server", bindings=bindings, idle_teardown=0.3)
    async with server, StreamClient(server.url, PATH) as client:
        await client.append(runner_subscription("echo-example", "echo"))
        await client.append({"type": INPUT, "payload": {}})
        events = await wait_for_events(
            client, lambda ev: disconnect_reasons(ev, "echo") == ["idle"]
        )
        assert len(of_type(events, OUTPUT)) == 1
        assert "echo" in (await client.runtime_state())["coreProcessorState"]["subscriptionsByKey"]
        assert "echo" not in (await client.runtime_state())["runtime"]["connections"]
        await client.append({"type": INPUT, "payload": {}})
        events = await wait_for_events(client, lambda ev: len(of_type(ev, OUTPUT)) == 2, 4.0)
        assert [o["payload"]["seen"] for o in of_type(events, OUTPUT)] == [1, 2]
        assert outbound_connects(events, "echo") == 2


class FailsFirstDelivery(HostedProcessor[dict[str, int]]):
    """Rejects its first batch with events (a processor bug), then echoes."""

    slug = "fails-first"
    consumes = frozenset({INPUT})
    failures_left = 1

    def initial_state(self) -> dict[str, int]:
        return {"seen": 0}

    def reduce(self, state: dict[str, int], event: Any) -> dict[str, int]:
        return {"seen": state["seen"] + 1}

    async def process_event_batch(self, batch: EventBatch[dict[str, int]]) -> None:
        if FailsFirstDelivery.failures_left:
            FailsFirstDelivery.failures_left -= 1
            raise RuntimeError("processor bug")
        for item in batch.reduced:
            await self.append({"type": OUTPUT, "payload": {"seen": item.next_state["seen"]}})


async def test_delivery_failure_closes_and_redials_from_the_checkpoint(tmp_path: Path) -> None:
    checkpoints = CheckpointFile(tmp_path / "checkpoints.sqlite3")
    runner = ProcessorRunner({**BUILTIN_PROCESSORS, "fails-first": FailsFirstDelivery}, checkpoints)
    server = EmbeddedServer(tmp_path / "server", bindings={RUNNER_BINDING: lambda _: runner})
    async with server, StreamClient(server.url, PATH) as client:
        await client.append(runner_subscription("fails-first", "flaky"))
        await client.append({"type": INPUT, "payload": {}})
        events = await wait_for_events(client, lambda ev: len(of_type(ev, OUTPUT)) == 1, 5.0)
        assert disconnect_reasons(events, "flaky") == ["delivery-failed"]
        assert outbound_connects(events, "flaky") == 2
        assert of_type(events, OUTPUT)[0]["payload"]["seen"] == 1
        await asyncio.sleep(0.1)
        assert len(of_type(await client.get_events(), OUTPUT)) == 1
