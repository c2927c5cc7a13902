"""A mirror never holds rows of two incarnations, at any commit: the stream is reset and grown
back between two catch-up pages (the page held by a proxy), while a subscription is being made,
and behind a socket that does not tell (only the liveness probe can). The old history is kept
as an archive. Each test checks the mirror after every commit and ends with it compared to the
server event by event."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from fault_support import CommitSnapshots, Event, assert_never_mixed, read_mirror, server_log
from mirror_support import (
    Proxy,
    Worker,
    assert_mirror_matches_server,
    open_registry,
    seed,
    wait_status,
    wait_synced,
)

from mirror.archive import archive_mirror, list_archives, prune_archives
from mirror.db import MirrorDb
from mirror.processors import MirrorWriter
from mirror.runtime import RuntimeStatus, RuntimeTiming, StreamRuntime
from server.run import EmbeddedServer
from wire.stream_client import StreamClient

PATH = "/trust/reset"
pytestmark = pytest.mark.timeout(120)
# Small pages, so a few thousand events take several pages; a probe that does not interfere.
TIMING = RuntimeTiming(catchup_page=500, election_poll=0.05, probe_interval=30.0)


async def reset_and_regrow(client: StreamClient, count: int) -> tuple[list[Event], str]:
    """The old incarnation's whole log, then reset() and ``count`` new events; returns the old
    log and the new incarnation."""
    old = await server_log(client)
    await asyncio.sleep(0.01)  # the new incarnation's clock is past every old event
    await client.reset()
    await seed(client, count, size=20)
    state = await client.runtime_state()
    return old, str(state["coreProcessorState"]["createdAt"])


async def wait_new_incarnation(runtime: StreamRuntime, client: StreamClient, created: str) -> None:
    await wait_status(runtime, lambda s: s.incarnation == created, 30)
    await wait_synced(runtime, client)


def archive_notice(status: RuntimeStatus) -> bool:
    return status.notice is not None and "kept as incarnation-" in status.notice


async def test_reset_between_two_catch_up_pages_never_mixes(
    tmp_path: Path, server: EmbeddedServer, client: StreamClient
) -> None:
    await seed(client, 3000, size=20)
    first = str((await client.runtime_state())["coreProcessorState"]["createdAt"])
    async with Proxy(server.url) as proxy, open_registry(tmp_path / "data", TIMING) as registry:
        hold = proxy.hold(b'"getEvents"', nth=3)  # two pages are written, the third waits
        runtime = registry.acquire(proxy.url, "default", PATH)
        with CommitSnapshots(runtime.mirror_file) as commits:
            runtime.retain()
            await asyncio.wait_for(hold.reached.wait(), 20)
            old_log, created = await reset_and_regrow(client, 4000)
            assert created != first
            hold.release()
            await wait_new_incarnation(runtime, client, created)
            await assert_mirror_matches_server(runtime, client)
            new_log = await server_log(client)
        assert not commits.errors
        assert len(commits.snapshots) >= 10
        checked = assert_never_mixed(commits.snapshots, [old_log, new_log])
        assert checked > len(new_log)
        # The held page (old rows, answered with the new incarnation's state) was never
        # written; the two pages before it are kept as the archive.
        status = runtime.status
        assert archive_notice(status), status.notice
        (archive,) = list_archives(runtime.mirror_file)
        incarnation, archived = read_mirror(archive)
        assert incarnation == first and 1000 <= len(archived) < len(old_log)
        assert_never_mixed([(incarnation, archived)], [old_log])


async def test_reset_while_subscribing_never_writes_the_new_incarnation(
    tmp_path: Path, server: EmbeddedServer, client: StreamClient
) -> None:
    """The runtime reconciled against the old incarnation, then the stream is reset and grown
    past the mirror's checkpoint before the subscription reaches the server: the replay it
    gets is of the new incarnation and must not be appended."""
    await seed(client, 600, size=20)
    async with Proxy(server.url) as proxy, open_registry(tmp_path / "data", TIMING) as registry:
        runtime = registry.acquire(proxy.url, "default", PATH)
        with CommitSnapshots(runtime.mirror_file) as commits:
            runtime.retain()
            await wait_synced(runtime, client)
            hold = proxy.hold(b"upgrade: websocket")
            for pipe in proxy.pipes:
                if pipe.websocket:
                    pipe.cut()  # the subscription drops; the runtime dials again
            await asyncio.wait_for(hold.reached.wait(), 20)
            old_log, created = await reset_and_regrow(client, 1500)
            hold.release()
            await wait_new_incarnation(runtime, client, created)
            await assert_mirror_matches_server(runtime, client)
            new_log = await server_log(client)
        assert not commits.errors
        assert_never_mixed(commits.snapshots, [old_log, new_log])
        reasons = [record.reason for record in runtime.reconnect_history]
        assert any("a delivery came from incarnation" in reason for reason in reasons), reasons
        assert archive_notice(runtime.status), runtime.status.notice


async def test_reset_behind_a_silent_socket_is_caught_by_the_probe(
    tmp_path: Path, server: EmbeddedServer, client: StreamClient
) -> None:
    """Like iterate's server, which may keep subscriber sockets open after a reset: the
    socket is frozen, so only the liveness probe can notice; nothing mixed is ever written."""
    await seed(client, 800, size=20)
    timing = RuntimeTiming(catchup_page=500, election_poll=0.05, probe_interval=0.3)
    async with Proxy(server.url) as proxy, open_registry(tmp_path / "data", timing) as registry:
        runtime = registry.acquire(proxy.url, "default", PATH)
        with CommitSnapshots(runtime.mirror_file) as commits:
            runtime.retain()
            await wait_synced(runtime, client)
            frozen = proxy.freeze_websockets()
            assert frozen, "the subscription runs over the proxy"
            old_log, created = await reset_and_regrow(client, 2000)
            await wait_new_incarnation(runtime, client, created)
            for pipe in frozen:
                pipe.frozen.set()  # the stale socket's close arrives late and changes nothing
            await runtime.append({"type": "test/after", "payload": {}})
            await wait_synced(runtime, client)
            await assert_mirror_matches_server(runtime, client)
            new_log = await server_log(client)
        assert_never_mixed(commits.snapshots, [old_log, new_log])
        reasons = [record.reason for record in runtime.reconnect_history]
        assert any("incarnation changed" in reason for reason in reasons), reasons


async def test_until_synced_follows_a_reset_to_the_new_incarnation(
    tmp_path: Path, server: EmbeddedServer, client: StreamClient
) -> None:
    """``streamdesk mirror --until-synced`` exits 0 only once the mirror is the server's
    current incarnation at its head, even when the stream is reset during the catch-up."""
    await seed(client, 12_000, size=20)
    async with Proxy(server.url) as proxy:
        hold = proxy.hold(b'"getEvents"', nth=2)  # pages of 5,000: one is written
        data_dir = tmp_path / "data"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli",
            "mirror",
            proxy.url,
            PATH,
            "--data-dir",
            str(data_dir),
            "--until-synced",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        await asyncio.wait_for(hold.reached.wait(), 30)
        _, created = await reset_and_regrow(client, 2500)
        hold.release()
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    (live,) = (data_dir / "mirrors").glob("*/*/stream-*.sqlite3")
    incarnation, events = read_mirror(live)
    assert incarnation == created
    assert_never_mixed([(incarnation, events)], [await server_log(client)])
    assert len(events) >= 2500
    assert "kept as incarnation-" in stderr.decode()
    listing = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "app.cli", "mirrors", "--data-dir", str(data_dir), "--json"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(listing.communicate(), 60)
    assert listing.returncode == 0, err.decode()
    (mirror,) = [json.loads(line) for line in out.decode().splitlines()]
    assert mirror["path"] == PATH and mirror["incarnation"] == created
    (archive,) = mirror["archives"]
    assert archive["events"] == 5000 and archive["archived_at"]
    assert archive["incarnation"] != created


def test_archives_are_pruned_to_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "mirrors" / "s" / "default" / "stream-0123456789abcdef-x.sqlite3"
    made = []
    for n in range(5):
        db = MirrorDb.open(path)
        db.set_incarnation(f"2026-01-0{n + 1}T00:00:00.000Z")
        MirrorWriter(db).apply_sync([{"offset": 1, "type": "t", "createdAt": "x", "payload": {}}])
        made.append(archive_mirror(db))
        assert not path.exists()
    assert list_archives(path) == made
    assert prune_archives(path, 3) == made[:2]
    assert list_archives(path) == made[2:]
    for archive in made[2:]:
        incarnation, events = read_mirror(archive)
        assert incarnation is not None and archive.name.startswith("incarnation-2026010")
        assert len(events) == 1


async def test_a_follower_process_switches_to_the_new_incarnation_and_takes_over(
    tmp_path: Path, server: EmbeddedServer, client: StreamClient
) -> None:
    """The writer is another process (killed with SIGKILL at the end); this process follows.
    After the writer archives the old mirror, the follower reads the new file, never the
    archive, and takes over writing it."""
    await seed(client, 1500, size=20)
    data = tmp_path / "data"
    leader = await Worker.start(data, server.url, PATH, "--catchup-page", "500")
    try:
        await leader.wait_line(lambda line: line.get("role") == "leader")
        async with open_registry(data, TIMING) as registry:
            follower = registry.acquire(server.url, "default", PATH)
            follower.retain()
            await wait_status(follower, lambda s: s.role == "follower")
            await wait_synced(follower, client)
            before = follower.status
            old_log, created = await reset_and_regrow(client, 2500)
            await wait_new_incarnation(follower, client, created)
            assert follower.status.role == "follower"
            assert follower.status.clear_version > before.clear_version
            await assert_mirror_matches_server(follower, client)
            (archive,) = list_archives(follower.mirror_file)
            assert_never_mixed([read_mirror(archive)], [old_log])

            leader.kill()
            await wait_status(
                follower, lambda s: s.role == "leader" and s.connection == "subscribed"
            )
            committed = await follower.append({"type": "test/after-takeover", "payload": {}})
            await wait_status(follower, lambda s: s.event_count >= committed["offset"])
            await assert_mirror_matches_server(follower, client)
            assert follower.status.incarnation == created
    finally:
        await leader.stop()
