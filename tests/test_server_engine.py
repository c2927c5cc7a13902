"""The stream engine and registry through direct Python calls (no transport)."""

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_support import CONNECTED, CREATED, DISCONNECTED, WOKEN, types_of

from server.engine import StreamEngine
from server.errors import StreamRequestError
from server.registry import DataDirInUse, StreamRegistry
from server.storage import stream_file
from wire import codec


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[StreamRegistry]:
    reg = StreamRegistry(tmp_path / "data")
    yield reg
    reg.close()


class Recorder:
    """A deliver function that can be held back, like a subscriber that stops reading."""

    def __init__(self) -> None:
        self.batches: list[dict[str, Any]] = []
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.arrived = asyncio.Event()
        self.closed_with: list[str | None] = []

    async def deliver(self, batch: dict[str, Any]) -> None:
        self.batches.append(batch)
        self.arrived.set()
        await self.flowing.wait()

    def on_closed(self, reason: str | None) -> None:
        self.closed_with.append(reason)

    @property
    def offsets(self) -> list[int]:
        return [e["offset"] for b in self.batches for e in b["events"]]

    async def wait_for_offset(self, offset: int) -> None:
        async with asyncio.timeout(10):
            while not self.offsets or self.offsets[-1] < offset:
                self.arrived.clear()
                await self.arrived.wait()


def subscribe(engine: StreamEngine, recorder: Recorder, **options: Any) -> str:
    connection = engine.subscribe(recorder.deliver, on_closed=recorder.on_closed, **options)
    return connection.key


async def test_slow_subscriber_holds_back_only_its_own_pump(registry: StreamRegistry) -> None:
    engine = registry.engine("default", "/slow")
    slow, fast = Recorder(), Recorder()
    slow.flowing.clear()
    slow_key = subscribe(engine, slow, replay_after_offset=0)
    subscribe(engine, fast, replay_after_offset=0)
    for round_ in range(20):
        engine.append_batch([{"type": "test.n", "payload": round_ * 100 + i} for i in range(100)])
        await asyncio.sleep(0)
    last = engine.max_offset
    await fast.wait_for_offset(last)
    # The held-back subscriber got one batch and nothing is queued for it: its pump is parked
    # in the send, with the cursor right after that batch.
    assert len(slow.batches) == 1
    connection = engine.connection(slow_key)
    assert connection is not None and connection.cursor == slow.offsets[-1] <= 100
    slow.flowing.set()
    await slow.wait_for_offset(last)
    assert slow.offsets == list(range(1, last + 1))
    assert max(len(b["events"]) for b in slow.batches) == 100


async def test_failed_delivery_closes_with_rpc_broken(registry: StreamRegistry) -> None:
    engine = registry.engine("default", "/broken")
    closed: list[str | None] = []
    closing = asyncio.Event()

    async def deliver(batch: dict[str, Any]) -> None:
        raise ConnectionError("socket gone")

    def on_closed(reason: str | None) -> None:
        closed.append(reason)
        closing.set()

    engine.subscribe(deliver, on_closed=on_closed, subscription_key="k")
    async with asyncio.timeout(10):
        await closing.wait()
    assert closed == ["rpc-broken"]
    last = engine.get_events()[-1]
    assert last["type"] == DISCONNECTED
    assert last["payload"] == {"subscriptionKey": "k", "reason": "rpc-broken"}


async def test_invalid_subscriber_descriptor_refuses_the_subscription(
    registry: StreamRegistry,
) -> None:
    engine = registry.engine("default", "/d")
    with pytest.raises(StreamRequestError, match="incarnationId"):
        subscribe(engine, Recorder(), subscriber={"incarnationId": ""})
    assert types_of(engine.get_events()) == [CREATED, WOKEN]
    assert engine.runtime_state()["runtime"]["connections"] == {}


async def test_replay_cursor_beyond_the_head(registry: StreamRegistry) -> None:
    engine = registry.engine("default", "/ahead")
    recorder = Recorder()
    subscribe(engine, recorder, replay_after_offset=10)
    async with asyncio.timeout(10):
        await recorder.arrived.wait()
    assert recorder.batches[0]["events"] == []  # the initial push
    engine.append_batch([{"type": "test.n"} for _ in range(10)])
    await recorder.wait_for_offset(13)
    assert recorder.offsets == [11, 12, 13]


async def test_kill_drops_connections_without_facts(registry: StreamRegistry) -> None:
    engine = registry.engine("default", "/k")
    recorder = Recorder()
    subscribe(engine, recorder, replay_after_offset=0)
    await recorder.wait_for_offset(3)
    registry.kill("default", "/k")
    assert recorder.closed_with == [None]
    woken_again = registry.engine("default", "/k")
    assert woken_again is not engine
    assert types_of(woken_again.get_events()) == [CREATED, WOKEN, CONNECTED, WOKEN]


async def test_reset_deletes_the_stream_file(registry: StreamRegistry) -> None:
    engine = registry.engine("default", "/r")
    engine.append({"type": "test.x"})
    file = stream_file(registry.data_dir, "default", "/r")
    assert file.exists()
    registry.reset("default", "/r")
    assert not file.exists()
    assert registry.live_engine("default", "/r") is None
    assert types_of(registry.engine("default", "/r").get_events()) == [CREATED, WOKEN]


def test_a_data_directory_has_one_server(tmp_path: Path) -> None:
    first = StreamRegistry(tmp_path / "data")
    with pytest.raises(DataDirInUse, match="already using the data directory"):
        StreamRegistry(tmp_path / "data")
    first.close()
    StreamRegistry(tmp_path / "data").close()


def test_restart_wakes_with_the_same_identity(tmp_path: Path) -> None:
    registry = StreamRegistry(tmp_path / "data")
    engine = registry.engine("default", "/persist")
    engine.append_batch([{"type": "test.a", "idempotencyKey": "a"}, {"type": "test.b"}])
    before = engine.state
    registry.close()

    registry = StreamRegistry(tmp_path / "data")
    engine = registry.engine("default", "/persist")
    after = engine.state
    assert after["createdAt"] == before["createdAt"]
    assert after["incarnationId"] != before["incarnationId"]
    assert types_of(engine.get_events()) == [CREATED, WOKEN, "test.a", "test.b", WOKEN]
    assert engine.append({"type": "test.a", "idempotencyKey": "a"})["offset"] == 3
    registry.close()


def test_reads_beyond_the_cached_tail_come_from_storage(registry: StreamRegistry) -> None:
    engine = registry.engine("default", "/tail")
    for round_ in range(30):
        engine.append_batch([{"type": "test.n", "payload": round_ * 100 + i} for i in range(100)])
    events = engine.get_events(after_offset=0, limit=5000)
    assert [e["offset"] for e in events] == list(range(1, 3003))
    assert [e["payload"] for e in events[2:]] == list(range(3000))
    assert engine.get_event(2500)["payload"] == 2497
    assert [e["offset"] for e in engine.get_events(2990, 2995)] == [2991, 2992, 2993, 2994]


def test_wire_events_are_stored_bytes_unless_they_hold_an_array(tmp_path: Path) -> None:
    registry = StreamRegistry(tmp_path / "data")
    payloads = [{"list": [1, {"x": []}]}, {"s": "[not an array]"}, {"n": 1, "d": {"e": None}}]
    registry.engine("default", "/w").append_batch(
        [{"type": "test.w", "payload": p} for p in payloads]
    )
    registry.close()
    registry = StreamRegistry(tmp_path / "data")  # a restart: reads now come from storage
    engine = registry.engine("default", "/w")
    wire = engine.get_events_for_wire(after_offset=2, before_offset=6)
    assert [type(item).__name__ for item in wire] == ["dict", "dict", "Fragment"]
    sent = codec.decode(codec.loads(codec.dumps(codec.encode(wire))))
    assert sent == engine.get_events(after_offset=2, before_offset=6)
    assert [e["payload"] for e in sent] == payloads
    registry.close()


def test_batch_errors_name_the_event(registry: StreamRegistry) -> None:
    engine = registry.engine("default", "/labels")
    with pytest.raises(StreamRequestError, match=r"^invalid event at index 1: "):
        engine.append_batch([{"type": "test.ok"}, {"type": "test.bad", "createdAt": "x"}])
    with pytest.raises(StreamRequestError, match=r"^invalid event: "):
        engine.append({"type": ""})
    assert engine.max_offset == 2


async def test_idle_streams_are_evicted_and_wake_again_with_their_log(
    registry: StreamRegistry,
) -> None:
    idle = registry.engine("default", "/idle")
    idle.append({"type": "test.idle/one"})
    watched = registry.engine("default", "/watched")
    recorder = Recorder()
    subscribe(watched, recorder)
    later = idle.last_used + 601

    assert registry.evict_idle(600, now=idle.last_used + 599) == 0
    assert registry.evict_idle(600, now=later) == 2  # /idle and the root it announced itself to
    assert registry.live_engine("default", "/idle") is None
    assert registry.live_engine("default", "/") is None
    assert registry.live_engine("default", "/watched") is watched  # a subscriber keeps it
    assert recorder.closed_with == []

    woken = registry.engine("default", "/idle")
    assert woken is not idle
    events = woken.get_events()
    assert [e["offset"] for e in events] == [1, 2, 3, 4]
    assert types_of(events) == [CREATED, WOKEN, "test.idle/one", WOKEN]


async def test_a_request_resets_the_idle_clock(registry: StreamRegistry) -> None:
    engine = registry.engine("default", "/busy")
    first_use = engine.last_used
    await asyncio.sleep(0.01)
    assert registry.engine("default", "/busy") is engine
    assert engine.last_used > first_use
    assert registry.evict_idle(600, now=first_use + 600) == 0
