"""The stream runtime against a real embedded server and real mirror files (one process).

Every scenario ends with the mirror compared event by event with the server's log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

import apsw
import pytest
from mirror_support import (
    FAST,
    Proxy,
    assert_mirror_matches_server,
    seed,
    wait_status,
    wait_synced,
)

from mirror.db import MirrorDb
from mirror.paths import mirror_file, writer_lock_file
from mirror.runtime import (
    CatchupProgress,
    OfflineError,
    ReconnectRecord,
    RuntimeRegistry,
    RuntimeStatus,
    RuntimeTiming,
)
from mirror.schema import SCHEMA_VERSION
from server.run import EmbeddedServer
from wire.stream_client import StreamClient

PATH = "/runtime/test"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(tmp_path / "server") as running:
        yield running


@pytest.fixture
async def client(server: EmbeddedServer) -> AsyncIterator[StreamClient]:
    async with StreamClient(server.url, PATH) as stream_client:
        yield stream_client


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[RuntimeRegistry]:
    runtimes = RuntimeRegistry(tmp_path / "data", timing=FAST)
    yield runtimes
    await runtimes.aclose()


def subscribed_with(count: int) -> Callable[[RuntimeStatus], bool]:
    return lambda s: s.connection == "subscribed" and s.event_count >= count


def poison_mirror(file: Path, offset: int) -> Path:
    """A mirror file whose inserts of ``offset`` fail while the flag table has a row: a real
    SQLite failure in the middle of a batch, switched off by deleting the row."""
    db = MirrorDb.open(file)
    with db.transaction() as conn:
        conn.execute("CREATE TABLE poison_flag (x INTEGER)")
        conn.execute("INSERT INTO poison_flag VALUES (1)")
        conn.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON events "
            f"WHEN NEW.local_index = {offset - 1} AND EXISTS (SELECT 1 FROM poison_flag) "
            "BEGIN SELECT RAISE(ABORT, 'poisoned batch'); END"
        )
    db.close()
    return file


def cure(file: Path) -> None:
    conn = apsw.Connection(str(file))
    conn.set_busy_timeout(5000)
    conn.execute("DELETE FROM poison_flag")
    conn.close()


def ingest_delays(history: Iterable[ReconnectRecord]) -> list[float]:
    return [record.delay for record in history if record.reason.startswith("mirror ingest failed")]


async def test_catch_up_then_live_tail_in_one_shared_runtime(
    registry: RuntimeRegistry, server: EmbeddedServer, client: StreamClient
) -> None:
    await seed(client, 3000)
    runtime = registry.acquire(server.url, "default", PATH)
    assert registry.acquire(server.url, "default", PATH.rstrip("/")) is runtime
    progress: list[CatchupProgress] = []
    runtime.add_listener(lambda s: progress.append(s.catchup) if s.catchup else None)
    runtime.retain()
    runtime.retain()  # a second view of the same stream
    await wait_synced(runtime, client)
    assert runtime.status.role == "leader"
    assert progress, "3,000 events behind: the runtime pages history first"
    assert progress[0].done == 0 and all(p.total >= 3000 for p in progress)
    assert any(p.done >= 500 and p.rate > 0 for p in progress)
    assert [p.done for p in progress] == sorted(p.done for p in progress)
    for i in range(3):
        committed = await runtime.append({"type": "test/live", "payload": {"i": i}})
    await wait_status(runtime, subscribed_with(committed["offset"]))
    await assert_mirror_matches_server(runtime, client)

    runtime.release()
    await asyncio.sleep(0.05)
    assert not runtime.is_closed, "one view still holds it"
    runtime.release()
    await wait_status(runtime, lambda s: s.connection == "closed")
    assert registry.acquire(server.url, "default", PATH) is not runtime


async def test_reset_rebuilds_the_mirror(
    registry: RuntimeRegistry, server: EmbeddedServer, client: StreamClient
) -> None:
    await client.append_batch([{"type": "test/before-reset"}] * 20)
    runtime = registry.acquire(server.url, "default", PATH)
    notices: list[str] = []
    runtime.add_listener(lambda s: notices.append(s.notice) if s.notice else None)
    runtime.retain()
    await wait_synced(runtime, client)
    await runtime.reset()
    await wait_status(runtime, lambda s: s.clear_version >= 1 and s.connection == "subscribed")
    assert any("reset" in notice for notice in notices), notices
    await wait_synced(runtime, client)
    assert "test/before-reset" not in runtime.reader.type_counts()
    await assert_mirror_matches_server(runtime, client)
    runtime.release()


async def test_reset_and_regrowth_past_the_old_max_is_detected(
    tmp_path: Path, server: EmbeddedServer, client: StreamClient
) -> None:
    first = RuntimeRegistry(tmp_path / "data", timing=FAST)
    runtime = first.acquire(server.url, "default", PATH)
    runtime.retain()
    old_max = await seed(client, 20)
    await wait_synced(runtime, client)
    await first.aclose()

    await client.reset()
    new_max = await seed(client, old_max + 40)
    assert new_max > old_max
    second = RuntimeRegistry(tmp_path / "data", timing=FAST)
    try:
        runtime = second.acquire(server.url, "default", PATH)
        runtime.retain()
        await wait_synced(runtime, client)
        assert runtime.status.clear_version == 1
        await assert_mirror_matches_server(runtime, client)

        # The same while the runtime is live: the reset comes from someone else.
        clear_version = runtime.status.clear_version
        await client.reset()
        await seed(client, new_max + 10)
        await wait_status(runtime, lambda s: s.clear_version > clear_version)
        await wait_synced(runtime, client)
        await assert_mirror_matches_server(runtime, client)
    finally:
        await second.aclose()


async def test_failing_ingest_backs_off_exponentially_then_recovers(
    registry: RuntimeRegistry, server: EmbeddedServer, client: StreamClient
) -> None:
    await seed(client, 10)
    file = poison_mirror(mirror_file(registry.data_dir, server.url, "default", PATH), offset=7)
    runtime = registry.acquire(server.url, "default", PATH)
    runtime.retain()
    await wait_status(runtime, lambda s: len(ingest_delays(runtime.reconnect_history)) >= 4)
    cure(file)
    await wait_synced(runtime, client)
    delays = ingest_delays(runtime.reconnect_history)
    assert delays[:4] == [0.25, 0.5, 1.0, 2.0]
    # No busy loop: every failed attempt waited its backoff (each dial is one attempt).
    assert len(delays) <= 5
    assert runtime.status.last_error is None
    assert runtime.reader.event_count() >= 10
    await assert_mirror_matches_server(runtime, client)
    runtime.release()


async def test_append_while_reconnecting_succeeds_and_keeps_the_backoff(
    registry: RuntimeRegistry, server: EmbeddedServer, client: StreamClient
) -> None:
    await seed(client, 5)
    file = poison_mirror(mirror_file(registry.data_dir, server.url, "default", PATH), offset=4)
    runtime = registry.acquire(server.url, "default", PATH)
    runtime.retain()
    # The third failure arms a 1 s backoff.
    await wait_status(runtime, lambda s: len(ingest_delays(runtime.reconnect_history)) >= 3)
    assert runtime.status.connection == "reconnecting"
    dials = len(runtime.reconnect_history)
    committed = await runtime.append({"type": "test/while-reconnecting"})
    assert committed["type"] == "test/while-reconnecting" and committed["offset"] > 5
    assert runtime.status.connection == "reconnecting"
    assert len(runtime.reconnect_history) == dials, "the append did not redial"
    runtime.reconnect()  # F5 during the backoff: still waits for it
    assert runtime.reconnect_history[-1].wait > 0.3
    cure(file)
    await wait_status(runtime, subscribed_with(committed["offset"]))
    await assert_mirror_matches_server(runtime, client)
    runtime.release()


async def test_a_late_close_from_a_superseded_connection_is_ignored(
    registry: RuntimeRegistry, server: EmbeddedServer, client: StreamClient
) -> None:
    await seed(client, 10)
    async with Proxy(server.url) as proxy:
        runtime = registry.acquire(proxy.url, "default", PATH)
        runtime.retain()
        await wait_synced(runtime, client)
        frozen = proxy.freeze_websockets()
        assert len(frozen) == 1
        runtime.reconnect()
        await wait_status(runtime, lambda s: s.connection == "subscribed")
        history = list(runtime.reconnect_history)
        for pipe in frozen:
            pipe.cut()  # the old socket dies only now, long after its replacement came up
        await asyncio.sleep(0.5)
        assert runtime.status.connection == "subscribed"
        assert list(runtime.reconnect_history) == history
        committed = await runtime.append({"type": "test/after-late-close"})
        await wait_status(runtime, subscribed_with(committed["offset"]))
        await assert_mirror_matches_server(runtime, client)
        runtime.release()
        await registry.aclose()


async def test_liveness_probe_reconnects_a_stalled_subscription(
    tmp_path: Path, server: EmbeddedServer, client: StreamClient
) -> None:
    timing = RuntimeTiming(catchup_page=500, probe_interval=0.3, probe_deadline=2.0)
    registry = RuntimeRegistry(tmp_path / "data", timing=timing)
    await seed(client, 10)
    try:
        async with Proxy(server.url) as proxy:
            runtime = registry.acquire(proxy.url, "default", PATH)
            runtime.retain()
            await wait_synced(runtime, client)
            proxy.freeze_websockets()  # deliveries stop; the socket never closes
            committed = await runtime.append({"type": "test/stalled"})
            await wait_status(runtime, subscribed_with(committed["offset"]))
            reasons = [record.reason for record in runtime.reconnect_history]
            assert any("stalled" in reason for reason in reasons), reasons
            assert all(record.delay == 0.25 for record in runtime.reconnect_history)
            await assert_mirror_matches_server(runtime, client)
    finally:
        await registry.aclose()


async def test_liveness_probe_reconnects_after_two_unanswered_probes(
    tmp_path: Path, server: EmbeddedServer, client: StreamClient
) -> None:
    timing = RuntimeTiming(probe_interval=0.2, probe_deadline=0.3, step_deadline=1.0)
    registry = RuntimeRegistry(tmp_path / "data", timing=timing)
    await seed(client, 10)
    try:
        async with Proxy(server.url) as proxy:
            runtime = registry.acquire(proxy.url, "default", PATH)
            runtime.retain()
            await wait_synced(runtime, client)
            proxy.freeze_all()  # a half-open network: nothing answers, nothing closes
            await wait_status(runtime, lambda s: s.connection == "reconnecting")
            (record,) = runtime.reconnect_history
            assert "2 times in a row" in record.reason and record.delay == 0.25
            proxy.thaw()
            committed = await runtime.append({"type": "test/after-thaw"})
            await wait_status(runtime, subscribed_with(committed["offset"]))
            await assert_mirror_matches_server(runtime, client)
    finally:
        await registry.aclose()


async def test_liveness_probe_notices_a_reset_it_was_not_told_about(
    tmp_path: Path, server: EmbeddedServer, client: StreamClient
) -> None:
    timing = RuntimeTiming(catchup_page=500, probe_interval=0.3, probe_deadline=2.0)
    registry = RuntimeRegistry(tmp_path / "data", timing=timing)
    await seed(client, 30)
    try:
        async with Proxy(server.url) as proxy:
            runtime = registry.acquire(proxy.url, "default", PATH)
            runtime.retain()
            await wait_synced(runtime, client)
            proxy.freeze_websockets()  # the server's close of the old socket never arrives
            await client.reset()
            await seed(client, 60)
            await wait_status(runtime, lambda s: s.clear_version >= 1)
            await wait_synced(runtime, client)
            reasons = [record.reason for record in runtime.reconnect_history]
            assert any("incarnation changed" in reason for reason in reasons), reasons
            await assert_mirror_matches_server(runtime, client)
    finally:
        await registry.aclose()


async def test_a_backlog_of_unwritten_deliveries_drops_the_socket_and_resumes(
    tmp_path: Path, server: EmbeddedServer, client: StreamClient
) -> None:
    timing = RuntimeTiming(live_backlog_limit=150, probe_interval=30.0)
    registry = RuntimeRegistry(tmp_path / "data", timing=timing)
    try:
        runtime = registry.acquire(server.url, "default", PATH)
        runtime.retain()
        await wait_synced(runtime, client)
        blocker = apsw.Connection(str(runtime.mirror_file))
        blocker.execute("BEGIN IMMEDIATE")  # the mirror cannot be written for now
        try:
            for _ in range(4):
                await client.append_batch([{"type": "test/burst"}] * 100)
            await wait_status(runtime, lambda s: s.connection != "subscribed")
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        reasons = [record.reason for record in runtime.reconnect_history]
        assert any("paging history instead" in reason for reason in reasons), reasons
        await wait_synced(runtime, client)
        await assert_mirror_matches_server(runtime, client)
    finally:
        await registry.aclose()


async def test_schema_version_change_clears_the_checkpoint_and_replays(
    tmp_path: Path, server: EmbeddedServer, client: StreamClient
) -> None:
    await seed(client, 1500)
    first = RuntimeRegistry(tmp_path / "data", timing=FAST)
    runtime = first.acquire(server.url, "default", PATH)
    runtime.retain()
    await wait_synced(runtime, client)
    file = runtime.mirror_file
    await first.aclose()
    conn = apsw.Connection(str(file))
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()

    second = RuntimeRegistry(tmp_path / "data", timing=FAST)
    try:
        runtime = second.acquire(server.url, "default", PATH)
        statuses: list[RuntimeStatus] = []
        runtime.add_listener(statuses.append)
        runtime.retain()
        await wait_synced(runtime, client)
        assert runtime.status.clear_version == 1
        starts = [s.catchup.done for s in statuses if s.catchup is not None]
        assert starts and starts[0] == 0, "replayed from the beginning"
        await assert_mirror_matches_server(runtime, client)
    finally:
        await second.aclose()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
async def test_an_unreadable_mirror_is_moved_aside_and_rebuilt(
    tmp_path: Path, server: EmbeddedServer, client: StreamClient, damage: str
) -> None:
    await seed(client, 3000, size=200)
    file = mirror_file(tmp_path / "data", server.url, "default", PATH)
    if damage == "garbage":
        file.parent.mkdir(parents=True)
        file.write_bytes(b"this is not a database\n" * 4096)
    else:
        first = RuntimeRegistry(tmp_path / "data", timing=FAST)
        first.acquire(server.url, "default", PATH).retain()
        await wait_synced(first.acquire(server.url, "default", PATH), client)
        await first.aclose()
        assert not file.with_name(file.name + "-wal").exists()
        size = file.stat().st_size
        with file.open("r+b") as handle:
            handle.truncate(size * 2 // 5)
    registry = RuntimeRegistry(tmp_path / "data", timing=FAST)
    try:
        runtime = registry.acquire(server.url, "default", PATH)
        runtime.retain()
        await wait_synced(runtime, client)
        assert runtime.status.clear_version >= 1
        moved = list(file.parent.glob(f"{file.name}.corrupt-*"))
        assert len(moved) == 1
        await assert_mirror_matches_server(runtime, client)
    finally:
        await registry.aclose()


async def test_kill_reconnects_and_keeps_mirroring(
    registry: RuntimeRegistry, server: EmbeddedServer, client: StreamClient
) -> None:
    runtime = registry.acquire(server.url, "default", PATH)
    runtime.retain()
    await wait_status(runtime, subscribed_with(3))  # created, woken, subscriber-connected
    errors: list[str] = []
    runtime.add_listener(lambda s: errors.append(s.last_error) if s.last_error else None)
    await runtime.kill()
    assert runtime.status.connection == "reconnecting"
    await wait_status(runtime, lambda s: s.connection == "subscribed")
    await wait_synced(runtime, client)
    assert runtime.reader.type_counts()["events.iterate.com/stream/woken"] == 2
    assert runtime.status.clear_version == 0
    assert errors == [], "a kill the user asked for is not an error"
    # As in the reference: a new woken and the new subscriber-connected, no disconnect fact.
    assert runtime.status.event_count == 5
    await assert_mirror_matches_server(runtime, client)
    runtime.release()


async def test_offline_mirrors_are_listed_and_browsable(
    tmp_path: Path, server: EmbeddedServer, client: StreamClient
) -> None:
    await seed(client, 50)
    online = RuntimeRegistry(tmp_path / "data", timing=FAST)
    runtime = online.acquire(server.url, "default", PATH)
    runtime.retain()
    await wait_synced(runtime, client)
    await asyncio.sleep(0.2)  # the live subscriber-connected event lands too
    count = runtime.reader.event_count()
    await online.aclose()

    registry = RuntimeRegistry(tmp_path / "data", timing=FAST)
    try:
        (info,) = registry.list_mirrors()
        assert (info.server_url, info.namespace, info.path) == (server.url, "default", PATH)
        assert info.event_count == count and info.file == runtime.mirror_file
        offline = registry.acquire(None, "default", PATH)
        offline.retain()
        assert offline.status.connection == "offline" and offline.status.role == "idle"
        await wait_status(offline, lambda s: s.event_count == count)
        assert offline.mirror_file == runtime.mirror_file
        assert len(offline.reader.events_range(0, 1000)) == count
        with pytest.raises(OfflineError):
            await offline.append({"type": "test/nope"})
        by_file = registry.open_file(info.file)
        assert (by_file.server_url, by_file.path) == (None, PATH)
        by_file.retain()
        await wait_status(by_file, lambda s: s.event_count == count)
        await assert_mirror_matches_server(offline, client, through=count)

        missing = registry.acquire(None, "default", "/never/mirrored")
        missing.retain()
        assert missing.status.notice is not None and missing.reader.event_count() == 0
    finally:
        await registry.aclose()


async def test_save_copy_and_clear_local(
    tmp_path: Path, registry: RuntimeRegistry, server: EmbeddedServer, client: StreamClient
) -> None:
    await seed(client, 200)
    runtime = registry.acquire(server.url, "default", PATH)
    runtime.retain()
    count = await wait_synced(runtime, client)
    copy = tmp_path / "saved" / "copy.sqlite3"
    await runtime.save_copy(copy)
    assert not copy.with_name(copy.name + "-wal").exists()
    conn = apsw.Connection(str(copy), flags=apsw.SQLITE_OPEN_READONLY)
    assert conn.execute("SELECT count(*) FROM events").fetchall()[0][0] >= count
    conn.close()

    await runtime.clear_local()
    await wait_status(runtime, lambda s: s.clear_version == 1)
    await wait_synced(runtime, client)
    await assert_mirror_matches_server(runtime, client)
    runtime.release()


async def test_writer_lock_is_held_only_while_open(
    registry: RuntimeRegistry, server: EmbeddedServer, client: StreamClient
) -> None:
    runtime = registry.acquire(server.url, "default", PATH)
    runtime.retain()
    await wait_synced(runtime, client)
    lock = writer_lock_file(runtime.mirror_file)
    assert f"v{SCHEMA_VERSION}" in lock.name
    other = RuntimeRegistry(registry.data_dir, timing=FAST)
    follower = other.acquire(server.url, "default", PATH)
    follower.retain()
    await wait_status(follower, lambda s: s.role == "follower")
    with pytest.raises(RuntimeError, match="another Streamdesk process"):
        await follower.clear_local()
    runtime.release()
    await wait_status(follower, lambda s: s.role == "leader" and s.connection == "subscribed")
    await assert_mirror_matches_server(follower, client)
    await other.aclose()
