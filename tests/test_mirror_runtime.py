"""The stream runtime against a real embedded server and real mirror files (one process).

Every scenario ends with the mirror compared event by event with the server's log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

import apsw
import pytest
from mirror_support import (
    Proxy,
    assert_mirror_matches_server,
    free_port,
    open_registry,
    seed,
    synced_runtime,
    wait_status,
    wait_synced,
)

from mirror.db import MirrorDb
from mirror.paths import ServerUrlError, mirror_file, writer_lock_file
from mirror.runtime import (
    CatchupProgress,
    NotTheWriterError,
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
async def registry(tmp_path: Path) -> AsyncIterator[RuntimeRegistry]:
    async with open_registry(tmp_path / "data") as runtimes:
        yield runtimes


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
    # Listeners hear at most one status per 16 ms (the newest), so the history is long enough
    # for several of them to fall inside the catch-up, which pages it 500 events at a time.
    await seed(client, 20_000)
    runtime = registry.acquire(server.url, "default", PATH)
    assert registry.acquire(server.url, "default", PATH.rstrip("/")) is runtime
    progress: list[CatchupProgress] = []
    runtime.add_listener(lambda s: progress.append(s.catchup) if s.catchup else None)
    runtime.retain()
    runtime.retain()  # a second view of the same stream
    await wait_synced(runtime, client)
    assert runtime.status.role == "leader"
    assert progress, "20,000 events behind: the runtime pages history first"
    assert progress[0].done < 10_000 and all(p.total >= 20_000 for p in progress)
    assert any(500 <= p.done < 20_000 and p.rate > 0 for p in progress)
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
    old_max = await seed(client, 20)
    async with open_registry(tmp_path / "data") as first:
        await synced_runtime(first, server.url, client)

    await client.reset()
    new_max = await seed(client, old_max + 40)
    assert new_max > old_max
    async with open_registry(tmp_path / "data") as second:
        runtime = await synced_runtime(second, server.url, client)
        assert runtime.status.clear_version == 1
        await assert_mirror_matches_server(runtime, client)

        # The same while the runtime is live: the reset comes from someone else.
        clear_version = runtime.status.clear_version
        await client.reset()
        await seed(client, new_max + 10)
        await wait_status(runtime, lambda s: s.clear_version > clear_version)
        await wait_synced(runtime, client)
        await assert_mirror_matches_server(runtime, client)


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
    # The fifth failure arms a 4 s backoff: room for the append even on a loaded machine.
    await wait_status(runtime, lambda s: len(ingest_delays(runtime.reconnect_history)) >= 5)
    assert runtime.status.connection == "reconnecting"
    dials = len(runtime.reconnect_history)
    committed = await runtime.append({"type": "test/while-reconnecting"})
    assert committed["type"] == "test/while-reconnecting" and committed["offset"] > 5
    since = list(runtime.reconnect_history)[dials:]
    assert all(r.reason.startswith("mirror ingest failed") for r in since), "no redial"
    # The backoff went on growing: the append did not reset it.
    assert (
        ingest_delays(runtime.reconnect_history)
        == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0][: len(ingest_delays(runtime.reconnect_history))]
    )
    runtime.reconnect()  # F5 during the backoff: still waits for it
    assert runtime.reconnect_history[-1].reason == "reconnect requested"
    assert runtime.reconnect_history[-1].delay == 0.0
    assert runtime.reconnect_history[-1].wait > 0
    cure(file)
    await wait_status(runtime, subscribed_with(committed["offset"]))
    await assert_mirror_matches_server(runtime, client)
    runtime.release()


async def test_a_late_close_from_a_superseded_connection_is_ignored(
    registry: RuntimeRegistry, server: EmbeddedServer, client: StreamClient
) -> None:
    await seed(client, 10)
    async with Proxy(server.url) as proxy:
        runtime = await synced_runtime(registry, proxy.url, client)
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
    await seed(client, 10)
    async with open_registry(tmp_path / "data", timing) as registry, Proxy(server.url) as proxy:
        runtime = await synced_runtime(registry, proxy.url, client)
        proxy.freeze_websockets()  # deliveries stop; the socket never closes
        committed = await runtime.append({"type": "test/stalled"})
        await wait_status(runtime, subscribed_with(committed["offset"]))
        reasons = [record.reason for record in runtime.reconnect_history]
        assert any("stalled" in reason for reason in reasons), reasons
        assert all(record.delay == 0.25 for record in runtime.reconnect_history)
        await assert_mirror_matches_server(runtime, client)


async def test_liveness_probe_reconnects_after_two_unanswered_probes(
    tmp_path: Path, server: EmbeddedServer, client: StreamClient
) -> None:
    timing = RuntimeTiming(probe_interval=0.2, probe_deadline=0.3, step_deadline=1.0)
    await seed(client, 10)
    async with open_registry(tmp_path / "data", timing) as registry, Proxy(server.url) as proxy:
        runtime = await synced_runtime(registry, proxy.url, client)
        proxy.freeze_all()  # a half-open network: nothing answers, nothing closes
        await wait_status(runtime, lambda s: s.connection == "reconnecting")
        (record,) = runtime.reconnect_history
        assert "2 times in a row" in record.reason and record.delay == 0.25
        proxy.thaw()
        committed = await runtime.append({"type": "test/after-thaw"})
        await wait_status(runtime, subscribed_with(committed["offset"]))
        await assert_mirror_matches_server(runtime, client)


async def test_liveness_probe_notices_a_reset_it_was_not_told_about(
    tmp_path: Path, server: EmbeddedServer, client: StreamClient
) -> None:
    timing = RuntimeTiming(catchup_page=500, probe_interval=0.3, probe_deadline=2.0)
    await seed(client, 30)
    async with open_registry(tmp_path / "data", timing) as registry, Proxy(server.url) as proxy:
        runtime = await synced_runtime(registry, proxy.url, client)
        proxy.freeze_websockets()  # the server's close of the old socket never arrives
        await client.reset()
        await seed(client, 60)
        await wait_status(runtime, lambda s: s.clear_version >= 1)
        await wait_synced(runtime, client)
        reasons = [record.reason for record in runtime.reconnect_history]
        assert any("incarnation changed" in reason for reason in reasons), reasons
        await assert_mirror_matches_server(runtime, client)


async def test_a_backlog_of_unwritten_deliveries_drops_the_socket_and_resumes(
    tmp_path: Path, server: EmbeddedServer, client: StreamClient
) -> None:
    timing = RuntimeTiming(live_backlog_limit=150, probe_interval=30.0)
    async with open_registry(tmp_path / "data", timing) as registry:
        runtime = await synced_runtime(registry, server.url, client)
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


async def test_schema_version_change_clears_the_checkpoint_and_replays(
    tmp_path: Path, server: EmbeddedServer, client: StreamClient
) -> None:
    await seed(client, 1500)
    async with open_registry(tmp_path / "data") as first:
        file = (await synced_runtime(first, server.url, client)).mirror_file
    conn = apsw.Connection(str(file))
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()

    async with open_registry(tmp_path / "data") as second:
        runtime = second.acquire(server.url, "default", PATH)
        statuses: list[RuntimeStatus] = []
        runtime.add_listener(statuses.append)
        runtime.retain()
        await wait_synced(runtime, client)
        assert runtime.status.clear_version == 1
        starts = [s.catchup.done for s in statuses if s.catchup is not None]
        assert starts and starts[0] == 0, "replayed from the beginning"
        await assert_mirror_matches_server(runtime, client)


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
        async with open_registry(tmp_path / "data") as first:
            await synced_runtime(first, server.url, client)
        assert not file.with_name(file.name + "-wal").exists()
        size = file.stat().st_size
        with file.open("r+b") as handle:
            handle.truncate(size * 2 // 5)
    async with open_registry(tmp_path / "data") as registry:
        runtime = await synced_runtime(registry, server.url, client)
        assert runtime.status.clear_version >= 1
        moved = list(file.parent.glob(f"{file.name}.corrupt-*"))
        assert len(moved) == 1
        await assert_mirror_matches_server(runtime, client)


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
    async with open_registry(tmp_path / "data") as online:
        runtime = await synced_runtime(online, server.url, client)
        await wait_synced(runtime, client)  # the live subscriber-connected event lands too
        count = runtime.reader.event_count()

    async with open_registry(tmp_path / "data") as registry:
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


async def test_save_copy_and_clear_local(
    tmp_path: Path, registry: RuntimeRegistry, server: EmbeddedServer, client: StreamClient
) -> None:
    await seed(client, 200)
    runtime = await synced_runtime(registry, server.url, client)
    count = runtime.status.event_count
    copy = tmp_path / "saved" / "copy.sqlite3"
    await runtime.save_copy(copy)
    assert not copy.with_name(copy.name + "-wal").exists()
    conn = apsw.Connection(str(copy), flags=apsw.SQLITE_OPEN_READONLY)
    copied = conn.execute("SELECT count(*) FROM events").fetchall()[0][0]
    assert isinstance(copied, int) and copied >= count
    conn.close()

    await runtime.clear_local()
    await wait_status(runtime, lambda s: s.clear_version == 1)
    await wait_synced(runtime, client)
    await assert_mirror_matches_server(runtime, client)
    runtime.release()


async def test_writer_lock_is_held_only_while_open(
    registry: RuntimeRegistry, server: EmbeddedServer, client: StreamClient
) -> None:
    runtime = await synced_runtime(registry, server.url, client)
    lock = writer_lock_file(runtime.mirror_file)
    assert f"v{SCHEMA_VERSION}" in lock.name
    async with open_registry(registry.data_dir) as other:
        follower = other.acquire(server.url, "default", PATH)
        follower.retain()
        await wait_status(follower, lambda s: s.role == "follower")
        with pytest.raises(NotTheWriterError, match="another Streamdesk process"):
            await follower.clear_local()
        runtime.release()
        await wait_status(follower, lambda s: s.role == "leader" and s.connection == "subscribed")
        # Subscribed is not yet written: the new writer's own presence fact is delivered after.
        await wait_synced(follower, client)
        await assert_mirror_matches_server(follower, client)


async def test_every_spelling_of_a_server_shares_one_runtime_and_file(
    registry: RuntimeRegistry, server: EmbeddedServer, client: StreamClient
) -> None:
    host_port = server.url.split("://", 1)[1]
    runtime = registry.acquire(f"ws://{host_port}", "default", PATH)
    for spelling in (server.url, f"HTTP://{host_port}/", f" {server.url}/ "):
        assert registry.acquire(spelling, "default", PATH) is runtime, spelling
    assert runtime.server_url == server.url  # canonical: http, what StreamClient dials
    runtime.retain()
    await wait_synced(runtime, client)
    assert runtime.status.role == "leader"
    await assert_mirror_matches_server(runtime, client)
    with pytest.raises(ServerUrlError, match="http://"):
        registry.acquire(host_port, "default", PATH)
    runtime.release()


async def test_a_refused_token_stops_dialling_until_reconnect(tmp_path: Path) -> None:
    secret, wrong = "s3cret-token", "wrong-token-1234"
    async with (
        EmbeddedServer(tmp_path / "server", token=secret) as server,
        open_registry(tmp_path / "data") as registry,
        StreamClient(server.url, PATH, token=secret) as client,
    ):
        runtime = registry.acquire(server.url, "default", PATH, token=wrong)
        runtime.retain()
        status = await wait_status(runtime, lambda s: s.connection == "unauthorized")
        assert status.role == "leader"
        assert status.last_error is not None and "token was rejected" in status.last_error
        assert wrong not in status.last_error
        # Longer than any reconnect delay: nothing redialled (the timer is not armed).
        await asyncio.sleep(1.5)
        assert runtime.status.connection == "unauthorized"
        assert list(runtime.reconnect_history) == []

        assert registry.acquire(server.url, "default", PATH, token=secret) is runtime
        runtime.reconnect()
        await wait_synced(runtime, client)
        assert runtime.status.last_error is None
        await assert_mirror_matches_server(runtime, client)


async def test_clear_local_while_the_leader_is_still_opening_the_mirror(
    tmp_path: Path, server: EmbeddedServer, client: StreamClient
) -> None:
    await seed(client, 20)
    async with open_registry(tmp_path / "data") as first:
        file = (await synced_runtime(first, server.url, client)).mirror_file
    blocker = apsw.Connection(str(file))
    blocker.execute("BEGIN IMMEDIATE")  # the leader's open waits (busy timeout) for this
    try:
        async with open_registry(tmp_path / "data") as registry:
            runtime = registry.acquire(server.url, "default", PATH)
            runtime.retain()
            await wait_status(runtime, lambda s: s.role == "leader")
            clearing = asyncio.ensure_future(runtime.clear_local())
            await asyncio.sleep(0.2)
            assert not clearing.done(), "it waits for its own writer, not refuses"
            blocker.execute("ROLLBACK")
            await asyncio.wait_for(clearing, 10)
            await wait_status(runtime, lambda s: s.clear_version >= 1)
            await wait_synced(runtime, client)
            await assert_mirror_matches_server(runtime, client)
    finally:
        if blocker.in_transaction:
            blocker.execute("ROLLBACK")
        blocker.close()


async def test_save_copy_refuses_the_live_mirror_and_cleans_up_after_a_failure(
    tmp_path: Path, registry: RuntimeRegistry, server: EmbeddedServer, client: StreamClient
) -> None:
    runtime = await synced_runtime(registry, server.url, client)
    live = runtime.mirror_file
    size = live.stat().st_size
    for target in (live, live.with_name(live.name + "-wal"), live.with_name(live.name + "-shm")):
        with pytest.raises(ValueError, match="live mirror"):
            await runtime.save_copy(target)
    alias = tmp_path / "alias"
    alias.symlink_to(live.parent, target_is_directory=True)
    with pytest.raises(ValueError, match="live mirror"):
        await runtime.save_copy(alias / live.name)
    assert live.stat().st_size == size
    await assert_mirror_matches_server(runtime, client)

    occupied = tmp_path / "saved" / "copy.sqlite3"
    (occupied / "inside").mkdir(parents=True)  # a non-empty directory cannot be replaced
    with pytest.raises(OSError):
        await runtime.save_copy(occupied)
    assert sorted(p.name for p in occupied.parent.iterdir()) == ["copy.sqlite3"]


async def test_a_server_never_reached_leaves_no_mirror_file(tmp_path: Path) -> None:
    async with open_registry(tmp_path / "d") as registry:
        runtime = registry.acquire(f"http://127.0.0.1:{free_port()}", "default", PATH)
        runtime.retain()
        status = await wait_status(runtime, lambda s: s.connection == "reconnecting")
        assert status.role == "leader" and status.last_error
        assert not runtime.mirror_file.exists()
        assert registry.list_mirrors() == []
