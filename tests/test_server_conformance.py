"""Conformance of the embedded server with PROTOCOL.md, over the real wire (HTTP batch and
WebSocket sessions through `wire.stream_client.StreamClient`) against a server on a free port."""

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from server_support import (
    CHILD_CREATED,
    CONFIGURED,
    CONNECTED,
    CREATED,
    DISCONNECTED,
    PAUSED,
    RESUMED,
    WOKEN,
    Batches,
    types_of,
)

from server.run import EmbeddedServer
from wire.stream_client import StreamClient, StreamError

ISO_MS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\Z")


@pytest.fixture
async def opened() -> AsyncIterator[list[StreamClient]]:
    """Clients to close after the test."""
    clients: list[StreamClient] = []
    yield clients
    for c in clients:
        await c.aclose()


@pytest.fixture
async def client(embedded_server: str, opened: list[StreamClient]) -> StreamClient:
    c = StreamClient(embedded_server, "/e2e/" + uuid.uuid4().hex[:8])
    opened.append(c)
    return c


@pytest.fixture
def other(client: StreamClient, opened: list[StreamClient]) -> Callable[[str], StreamClient]:
    """A client for another stream of the same server and namespace."""

    def make(path: str) -> StreamClient:
        c = StreamClient(client.base_url, path, client.namespace)
        opened.append(c)
        return c

    return make


# --- appends and offsets ---------------------------------------------------------------------


async def test_fresh_stream_starts_with_created_and_woken(client: StreamClient) -> None:
    first = await client.append({"type": "test.smoke", "payload": {"i": 1}})
    assert first["offset"] == 3
    assert first["payload"] == {"i": 1} and ISO_MS.match(first["createdAt"])
    assert set(first) == {"type", "payload", "offset", "createdAt"}
    created, woken = await client.get_events(before_offset=3)
    assert created["type"] == CREATED and created["offset"] == 1
    assert created["payload"] == {"namespace": "default", "path": client.path}
    assert woken["type"] == WOKEN and woken["offset"] == 2
    uuid.UUID(woken["payload"]["incarnationId"])
    second = await client.append({"type": "test.smoke"})
    assert second["offset"] == 4


async def test_committed_event_keeps_every_input_field(client: StreamClient) -> None:
    event = {
        "type": "events.iterate.com/review/with-source",
        "payload": {"ok": True, "tags": [["a", "b"]]},
        "metadata": {"trace": "abc"},
        "source": {"processor": {"slug": "reviewer", "version": "0.1.0"}},
        "idempotencyKey": "review:42",
        "offset": 3,
    }
    committed = await client.append(event)
    assert committed == {**event, "createdAt": committed["createdAt"]}
    assert list(committed) == [*event, "createdAt"]
    assert await client.get_event(offset=3) == committed


async def test_large_event_round_trips_by_offset_and_range(client: StreamClient) -> None:
    blob = "x" * (2 * 1024 * 1024 + 256 * 1024)
    committed = await client.append({"type": "test.large", "payload": {"blob": blob}})
    assert committed["offset"] == 3
    by_offset = await client.get_event(offset=3)
    assert by_offset is not None and by_offset["payload"]["blob"] == blob
    (by_range,) = await client.get_events(after_offset=2, before_offset=4)
    assert by_range == by_offset
    assert (await client.append({"type": "test.after"}))["offset"] == 4


async def test_batch_results_are_input_ordered_with_idempotency_hits(
    client: StreamClient,
) -> None:
    original = await client.append({"type": "test.keyed", "idempotencyKey": "k1", "payload": 1})
    assert original["offset"] == 3
    results = await client.append_batch(
        [
            {"type": "test.new", "payload": "a"},
            {"type": "test.keyed", "idempotencyKey": "k1", "payload": "ignored"},
            {"type": "test.new", "payload": "b"},
        ]
    )
    assert [r["offset"] for r in results] == [4, 3, 5]
    assert results[1] == original
    assert await client.get_event(idempotency_key="k1") == original
    assert await client.get_event(idempotency_key="never") is None


async def test_same_batch_duplicate_keys(client: StreamClient) -> None:
    first, second = await client.append_batch(
        [
            {"type": "test.dup", "idempotencyKey": "same", "payload": 1},
            {"type": "test.dup", "idempotencyKey": "same", "payload": 2},
        ]
    )
    assert second == first and first["payload"] == 1
    assert types_of(await client.get_events()) == [CREATED, WOKEN, "test.dup"]


async def test_offset_preconditions(client: StreamClient) -> None:
    with pytest.raises(StreamError, match=r"^expected offset 3, got 7$"):
        await client.append({"type": "test.x", "offset": 7})
    assert (await client.append({"type": "test.x", "offset": 3, "idempotencyKey": "k"}))[
        "offset"
    ] == 3
    with pytest.raises(StreamError, match=r"^idempotency hit at offset 3, got 9$"):
        await client.append({"type": "test.x", "offset": 9, "idempotencyKey": "k"})
    assert (await client.append({"type": "test.x", "offset": 3, "idempotencyKey": "k"}))[
        "offset"
    ] == 3


async def test_empty_batch_writes_nothing(client: StreamClient) -> None:
    assert await client.append_batch([]) == []
    assert len(await client.get_events()) == 2


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            {"type": "test.x", "createdAt": "2026-01-01T00:00:00.000Z"},
            'unrecognized key(s) "createdAt"',
        ),
        ({"type": "test.x", "path": "/x"}, 'unrecognized key(s) "path"'),
        ({"type": ""}, '"type" must be a non-empty string'),
        ({"payload": {}}, '"type" must be a non-empty string'),
        ({"type": PAUSED, "payload": {"reason": ""}}, f"invalid {PAUSED} payload"),
        ({"type": CREATED, "payload": {"namespace": "default", "path": "/x"}}, "must be the first"),
    ],
)
async def test_invalid_input_rejects_the_whole_batch(
    client: StreamClient, event: dict[str, object], message: str
) -> None:
    with pytest.raises(StreamError) as err:
        await client.append_batch([{"type": "test.ok"}, event])
    assert message in err.value.message
    assert types_of(await client.get_events()) == [CREATED, WOKEN]


async def test_created_error_text(client: StreamClient) -> None:
    with pytest.raises(StreamError) as err:
        await client.append({"type": CREATED, "payload": {"namespace": "default", "path": "/x"}})
    assert err.value.message == f"{CREATED} must be the first event and have offset 1"


# --- reads ----------------------------------------------------------------------------------


async def test_events_read_from_storage_keep_arrays_and_brackets(client: StreamClient) -> None:
    # Stored events without an array are sent as their stored bytes; these shapes must still
    # arrive exactly (1,100 events push the first ones out of the server's cached tail).
    payloads: list[object] = [
        {"tags": ["a", ["b"]], "empty": []},
        {"text": "a [bracket] in a string"},
        {"n": 1, "nested": {"deep": {"x": None, "y": 1.5, "z": True}}},
        [1, 2, 3],
        {"big": 2**63, "neg": -(2**63), "unicode": 'é \u2028 \\ "'},
    ]
    inputs = [{"type": "test.shape", "payload": payloads[i % len(payloads)]} for i in range(1100)]
    await client.append_batch(inputs)
    events = await client.get_events(after_offset=2, limit=20)
    assert [e["payload"] for e in events] == [payloads[i % len(payloads)] for i in range(20)]
    assert [e["offset"] for e in events] == list(range(3, 23))


async def test_get_events_bounds_are_exclusive(client: StreamClient) -> None:
    await client.append_batch([{"type": "test.a"}, {"type": "test.b"}])
    offsets = [e["offset"] for e in await client.get_events(after_offset=1, before_offset=4)]
    assert offsets == [2, 3]
    assert [e["offset"] for e in await client.get_events(after_offset=2)] == [3, 4]
    assert [e["offset"] for e in await client.get_events(after_offset=1, limit=2)] == [2, 3]
    assert [e["offset"] for e in await client.get_events()] == [1, 2, 3, 4]
    for bad in (0, -1):
        with pytest.raises(StreamError) as err:
            await client.get_events(limit=bad)
        assert err.value.message == "getEvents limit must be a positive integer."


async def test_get_event_miss_error_text(client: StreamClient) -> None:
    with pytest.raises(StreamError) as err:
        await client.get_event(offset=99)
    assert err.value.message == "No stream event found at offset 99."


async def test_runtime_state_and_reduce_dry_run(client: StreamClient) -> None:
    await client.append({"type": "test.x"})
    state = await client.runtime_state()
    core = state["coreProcessorState"]
    assert set(core) == {
        "namespace",
        "path",
        "createdAt",
        "incarnationId",
        "metadata",
        "config",
        "eventCount",
        "maxOffset",
        "childPaths",
        "paused",
        "pauseReason",
        "processorsBySlug",
        "subscriptionsByKey",
        "connectionsByKey",
    }
    assert core["path"] == client.path and core["eventCount"] == core["maxOffset"] == 3
    created = await client.get_event(offset=1)
    assert created is not None and core["createdAt"] == created["createdAt"]
    assert state["runtime"] == {"connections": {}}

    configured = {
        "type": CONFIGURED,
        "payload": {"config": {"simulatedStorageSyncDelayMs": 25}},
        "offset": 4,
        "createdAt": "2026-06-01T12:00:00.000Z",
    }
    reduced = await client.reduce(configured)
    assert reduced["config"]["simulatedStorageSyncDelayMs"] == 25 and reduced["maxOffset"] == 4
    assert (await client.runtime_state())["coreProcessorState"] == core
    assert len(await client.get_events()) == 3
    with pytest.raises(StreamError, match="must be the first event"):
        await client.reduce(
            {**configured, "type": CREATED, "payload": {"namespace": "d", "path": "/"}}
        )


# --- routing and child streams --------------------------------------------------------------


async def test_relative_stream_paths(
    client: StreamClient, other: Callable[[str], StreamClient]
) -> None:
    base = client.path
    a = await client.append({"type": "test.child", "payload": 1}, stream_path="child")
    b = await client.append({"type": "test.child", "payload": 2}, stream_path="./child")
    assert (a["offset"], b["offset"]) == (3, 4)
    child = other(base + "/child")
    assert [e["payload"] for e in await child.get_events(after_offset=2)] == [1, 2]
    assert all(e["type"] != "test.child" for e in await client.get_events())

    deep = other(base + "/a/b/c")
    await deep.append({"type": "test.p"}, stream_path="../parent")
    await deep.append({"type": "test.g"}, stream_path="../../grandparent")
    await deep.append({"type": "test.m"}, stream_path="../../grandparent/.././bla")
    await deep.append({"type": "test.abs"}, stream_path=base + "/absolute")
    for path, event_type in [
        ("/a/b/parent", "test.p"),
        ("/a/grandparent", "test.g"),
        ("/a/bla", "test.m"),
        ("/absolute", "test.abs"),
    ]:
        events = await other(base + path).get_events()
        assert types_of(events)[-1] == event_type, path


async def test_stream_path_escaping_the_root(other: Callable[[str], StreamClient]) -> None:
    two_deep = other("/x/y")
    with pytest.raises(StreamError) as err:
        await two_deep.append({"type": "test.x"}, stream_path="../../../too-far")
    assert err.value.message == (
        'streamPath "../../../too-far" escapes the stream root (resolved from "/x/y")'
    )


async def test_child_streams_are_announced_to_every_ancestor(
    other: Callable[[str], StreamClient],
) -> None:
    await other("/p/q/r").append({"type": "test.x"})
    root = other("/")
    assert (await root.runtime_state())["coreProcessorState"]["childPaths"] == ["/p"]
    root_children = [e for e in await root.get_events() if e["type"] == CHILD_CREATED]
    assert {e["payload"]["childPath"] for e in root_children} == {"/p", "/p/q", "/p/q/r"}
    assert {e["idempotencyKey"] for e in root_children} >= {"child-stream-created:/:/p/q/r"}
    p = other("/p")
    assert (await p.runtime_state())["coreProcessorState"]["childPaths"] == ["/p/q"]
    q = other("/p/q")
    assert (await q.runtime_state())["coreProcessorState"]["childPaths"] == ["/p/q/r"]


async def test_namespaces_are_separate(embedded_server: str) -> None:
    async with (
        StreamClient(embedded_server, "/same") as a,
        StreamClient(embedded_server, "/same", namespace="proj_123") as b,
    ):
        await a.append({"type": "test.a"})
        assert types_of(await b.get_events()) == [CREATED, WOKEN]
        created = await b.get_event(offset=1)
        assert created is not None
        assert created["payload"] == {"namespace": "proj_123", "path": "/same"}


# --- pause gate -----------------------------------------------------------------------------


async def test_paused_streams_reject_until_resumed(client: StreamClient) -> None:
    kept = await client.append({"type": "test.keyed", "idempotencyKey": "k"})
    with pytest.raises(StreamError, match=r"^stream paused: unknown reason$"):
        await client.append_batch([{"type": PAUSED, "payload": {}}, {"type": "test.x"}])
    await client.append({"type": PAUSED, "payload": {"reason": "circuit breaker tripped"}})
    with pytest.raises(StreamError) as err:
        await client.append({"type": "test.x"})
    assert err.value.message == "stream paused: circuit breaker tripped"
    # The idempotency check comes before the gate.
    assert await client.append({"type": "test.keyed", "idempotencyKey": "k"}) == kept
    state = (await client.runtime_state())["coreProcessorState"]
    assert state["paused"] is True and state["pauseReason"] == "circuit breaker tripped"
    await client.append({"type": RESUMED, "payload": {}})
    assert (await client.append({"type": "test.x"}))["type"] == "test.x"


# --- subscriptions --------------------------------------------------------------------------


async def test_replay_then_live_in_one_subscription(client: StreamClient) -> None:
    await client.append({"type": "test.first"})
    batches = Batches()
    sub = await client.subscribe(batches, replay_after_offset=0)
    await batches.wait_for_offset(4)
    assert batches.items[0]["events"][0]["offset"] == 1
    assert types_of(batches.events) == [CREATED, WOKEN, "test.first", CONNECTED]
    assert sub.stream_max_offset == 4
    await client.append({"type": "test.second"})
    await batches.wait_for_offset(5)
    assert batches.offsets == [1, 2, 3, 4, 5]
    last = batches.items[-1]
    assert last["namespace"] == "default" and last["path"] == client.path
    assert last["events"][-1]["type"] == "test.second"
    for batch in batches.items:
        assert batch["state"]["maxOffset"] == batch["streamMaxOffset"]
    runtime = await client.runtime_state()
    assert last["state"] == runtime["coreProcessorState"]
    assert last["streamMaxOffset"] == last["state"]["eventCount"] == 5
    await sub.unsubscribe()


async def test_subscriber_presence_counts(client: StreamClient) -> None:
    batches = Batches()
    sub = await client.subscribe(batches, replay_after_offset=0, subscriber={"description": "t"})
    await batches.wait_for_offset(3)
    assert types_of(await client.get_events()) == [CREATED, WOKEN, CONNECTED]
    connected = batches.events[-1]
    assert connected["payload"] == {
        "subscriptionKey": sub.subscription_key,
        "direction": "inbound",
        "subscriber": {"description": "t"},
    }
    await sub.unsubscribe()
    again = Batches()
    sub2 = await client.subscribe(again, replay_after_offset=3)
    await again.wait_for_offset(5)
    events = await client.get_events()
    assert types_of(events) == [CREATED, WOKEN, CONNECTED, DISCONNECTED, CONNECTED]
    assert events[3]["payload"] == {
        "subscriptionKey": sub.subscription_key,
        "reason": "unsubscribed",
    }
    assert "idempotencyKey" not in events[3]
    assert again.offsets == [4, 5]
    await sub2.unsubscribe()


async def test_live_only_subscription_gets_an_immediate_batch(client: StreamClient) -> None:
    await client.append({"type": "test.before"})
    batches = Batches()
    sub = await client.subscribe(batches)
    await batches.wait_for(lambda b: len(b.items) >= 1)
    first = batches.items[0]
    assert types_of(first["events"]) in ([], [CONNECTED])
    assert first["streamMaxOffset"] >= sub.stream_max_offset == 4
    await client.append({"type": "test.after"})
    await batches.wait_for_offset(5)
    assert "test.before" not in types_of(batches.events)
    await sub.unsubscribe()


async def test_event_type_filter(client: StreamClient) -> None:
    batches = Batches()
    sub = await client.subscribe(batches, replay_after_offset=0, event_types=["test.keep"])
    await batches.wait_for(lambda b: len(b.items) >= 1)
    assert batches.items[0]["events"] == []  # the initial push, all filtered out
    await client.append_batch([{"type": "test.drop"}, {"type": "test.keep", "payload": 1}])
    await client.append({"type": "test.keep", "payload": 2})
    await batches.wait_for(lambda b: len(b.events) >= 2)
    assert [e["payload"] for e in batches.events] == [1, 2]
    assert all(batch["events"] for batch in batches.items[1:])
    await sub.unsubscribe()


async def test_state_only_subscription(client: StreamClient) -> None:
    batches = Batches()
    sub = await client.subscribe(batches, replay_after_offset=0, events=False)
    await batches.wait_for(lambda b: len(b.items) >= 1)
    await client.append_batch([{"type": "test.a"}, {"type": "test.b"}])
    await batches.wait_for(lambda b: b.items[-1]["streamMaxOffset"] == 5)
    assert all(batch["events"] == [] for batch in batches.items)
    assert batches.items[-1]["state"]["maxOffset"] == 5
    await sub.unsubscribe()


async def test_anonymous_keys_and_unsubscribe(client: StreamClient) -> None:
    first, second = Batches(), Batches()
    sub1 = await client.subscribe(first)
    sub2 = await client.subscribe(second)
    for key in (sub1.subscription_key, sub2.subscription_key):
        assert uuid.UUID(key).version == 4
    assert sub1.subscription_key != sub2.subscription_key
    connections = (await client.runtime_state())["runtime"]["connections"]
    assert {k: v["direction"] for k, v in connections.items()} == {
        sub1.subscription_key: "inbound",
        sub2.subscription_key: "inbound",
    }
    appended = await client.append({"type": "test.both"})
    await first.wait_for_offset(appended["offset"])
    await second.wait_for_offset(appended["offset"])
    await sub1.unsubscribe()
    later = await client.append({"type": "test.only-second"})
    await second.wait_for_offset(later["offset"])
    assert later["offset"] not in first.offsets
    await sub2.unsubscribe()


async def test_subscribing_with_a_live_key_replaces_it(client: StreamClient) -> None:
    old, new = Batches(), Batches()
    sub_old = await client.subscribe(old, subscription_key="viewer")
    sub_new = await client.subscribe(new, subscription_key=" viewer ")
    assert sub_new.subscription_key == "viewer"
    events = await client.get_events()
    assert types_of(events)[-3:] == [CONNECTED, DISCONNECTED, CONNECTED]
    assert events[-2]["payload"] == {"subscriptionKey": "viewer", "reason": "replaced"}
    appended = await client.append({"type": "test.x"})
    await new.wait_for_offset(appended["offset"])
    assert appended["offset"] not in old.offsets
    connections = (await client.runtime_state())["runtime"]["connections"]
    assert list(connections) == ["viewer"]
    await sub_new.unsubscribe()
    await sub_old.aclose()


async def test_broken_session_records_rpc_broken(client: StreamClient) -> None:
    batches, watcher = Batches(), Batches()
    sub = await client.subscribe(batches, subscription_key="fragile")
    watch = await client.subscribe(watcher, subscription_key="watch", event_types=[DISCONNECTED])
    await batches.wait_for(lambda b: len(b.items) >= 1)
    await sub.aclose()
    await watcher.wait_for(lambda b: len(b.events) >= 1)
    assert watcher.events[0]["payload"] == {"subscriptionKey": "fragile", "reason": "rpc-broken"}
    assert list((await client.runtime_state())["runtime"]["connections"]) == ["watch"]
    await watch.unsubscribe()


async def test_replay_is_batched_and_delivered_once_in_order(client: StreamClient) -> None:
    await client.append_batch([{"type": "test.n", "payload": i} for i in range(250)])
    batches = Batches()
    sub = await client.subscribe(batches, replay_after_offset=0)
    await batches.wait_for_offset(253)
    assert batches.offsets == list(range(1, 254))
    assert max(len(b["events"]) for b in batches.items) == 100
    await sub.unsubscribe()


async def test_batch_limit_is_configurable(tmp_path: Path) -> None:
    async with (
        EmbeddedServer(tmp_path / "small-batches", delivery_batch_limit=7) as server,
        StreamClient(server.url, "/b") as client,
    ):
        await client.append_batch([{"type": "test.n"} for _ in range(30)])
        batches = Batches()
        sub = await client.subscribe(batches, replay_after_offset=0)
        await batches.wait_for_offset(33)
        assert batches.offsets == list(range(1, 34))
        assert max(len(b["events"]) for b in batches.items) == 7
        await sub.unsubscribe()


# --- lifecycle ------------------------------------------------------------------------------


async def test_kill_wakes_a_new_incarnation(client: StreamClient) -> None:
    batches = Batches()
    sub = await client.subscribe(batches, replay_after_offset=0)
    await batches.wait_for_offset(3)
    before = (await client.runtime_state())["coreProcessorState"]
    await client.kill()
    # The subscriber's session ends with the incarnation, so it can reconnect.
    async with asyncio.timeout(10):
        await sub.closed
    after = (await client.runtime_state())["coreProcessorState"]
    assert after["createdAt"] == before["createdAt"]
    assert after["incarnationId"] != before["incarnationId"]
    assert after["connectionsByKey"] == {}
    events = await client.get_events()
    # No disconnect fact: the connection died with the incarnation.
    assert types_of(events) == [CREATED, WOKEN, CONNECTED, WOKEN]
    assert (await client.append({"type": "test.x"}))["offset"] == 5


async def test_reset_starts_over(client: StreamClient) -> None:
    await client.append({"type": "test.old", "idempotencyKey": "k"})
    before = (await client.runtime_state())["coreProcessorState"]
    await asyncio.sleep(0.005)  # so the new createdAt differs at millisecond precision
    await client.reset()
    events = await client.get_events()
    assert types_of(events) == [CREATED, WOKEN]
    after = (await client.runtime_state())["coreProcessorState"]
    assert after["createdAt"] != before["createdAt"]
    assert after["createdAt"] == events[0]["createdAt"]
    fresh = await client.append({"type": "test.new", "idempotencyKey": "k"})
    assert fresh["offset"] == 3 and fresh["type"] == "test.new"
