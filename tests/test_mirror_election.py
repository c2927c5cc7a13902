"""Writer election: one exclusive file lock per mirror, real files and a real process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

from mirror_support import FAST, REPO_ROOT, assert_mirror_matches_server, wait_status, wait_synced

from mirror.election import WriterElection
from mirror.paths import mirror_file, writer_lock_file
from mirror.runtime import RuntimeRegistry
from mirror.runtime_status import FOLLOWER_EMPTY_NOTICE
from mirror.schema import SCHEMA_VERSION
from server.run import EmbeddedServer
from wire.stream_client import StreamClient


def test_lock_file_sits_beside_the_mirror_and_names_the_schema_version(tmp_path: Path) -> None:
    file = mirror_file(tmp_path, "http://127.0.0.1:1", "default", "/a")
    lock = writer_lock_file(file)
    assert lock.parent == file.parent
    assert f"v{SCHEMA_VERSION}" in lock.name
    assert writer_lock_file(file, SCHEMA_VERSION + 1) != lock


def test_exactly_one_holder_and_release_hands_over(tmp_path: Path) -> None:
    lock = tmp_path / "mirror.sqlite3.writer-v1.lock"
    first, second = WriterElection(lock), WriterElection(lock)
    assert first.try_acquire() and first.is_leader
    assert not second.try_acquire() and not second.is_leader
    first.release()
    assert second.try_acquire()
    assert not first.try_acquire(), "a released election never takes the lock again"
    second.release()


async def test_a_waiting_election_takes_over_without_blocking_the_loop(tmp_path: Path) -> None:
    lock = tmp_path / "m.lock"
    holder, waiter = WriterElection(lock), WriterElection(lock, poll_interval=0.02)
    assert holder.try_acquire()
    waiting = asyncio.ensure_future(waiter.wait_until_leader())
    ticks = 0
    for _ in range(10):
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks == 10 and not waiting.done()
    holder.release()
    assert await asyncio.wait_for(waiting, 10) is True
    assert waiter.is_leader
    waiter.release()


async def test_releasing_while_waiting_cancels_the_wait(tmp_path: Path) -> None:
    lock = tmp_path / "m.lock"
    holder, waiter = WriterElection(lock), WriterElection(lock, poll_interval=0.02)
    assert holder.try_acquire()
    waiting = asyncio.ensure_future(waiter.wait_until_leader())
    await asyncio.sleep(0.05)
    waiter.release()
    assert await asyncio.wait_for(waiting, 10) is False
    holder.release()
    await asyncio.sleep(0.1)
    assert not waiter.is_leader
    third = WriterElection(lock)
    assert third.try_acquire(), "the cancelled waiter left the lock free"
    third.release()


async def test_the_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    lock = tmp_path / "m.lock"
    script = (
        "import sys, time; from pathlib import Path; from mirror.election import WriterElection; "
        f"e = WriterElection(Path({str(lock)!r})); assert e.try_acquire(); "
        "print('held', flush=True); time.sleep(60)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE, env=env
    )
    try:
        assert holder.stdout is not None
        assert (await holder.stdout.readline()).strip() == b"held"
        election = WriterElection(lock, poll_interval=0.05)
        assert not election.try_acquire()
        waiting = asyncio.ensure_future(election.wait_until_leader())
        holder.kill()
        # Behaviour, not speed (bench/tail_latency.py measures a takeover): generous bound.
        assert await asyncio.wait_for(waiting, 10) is True
        election.release()
    finally:
        with contextlib.suppress(ProcessLookupError):
            holder.kill()
        await holder.wait()


async def test_an_empty_follower_says_why_and_leads_once_the_lock_is_free(
    tmp_path: Path,
) -> None:
    async with EmbeddedServer(tmp_path / "server") as server:
        registry = RuntimeRegistry(tmp_path / "data", timing=FAST)
        file = mirror_file(registry.data_dir, server.url, "default", "/elected")
        foreign = WriterElection(writer_lock_file(file))
        assert foreign.try_acquire()  # another process holds the lock and writes nothing
        try:
            runtime = registry.acquire(server.url, "default", "/elected")
            runtime.retain()
            status = await wait_status(runtime, lambda s: s.role == "follower")
            assert status.event_count == 0
            assert status.notice == FOLLOWER_EMPTY_NOTICE
            committed = await runtime.append({"type": "test/from-a-follower"})
            assert committed["offset"] == 3
            foreign.release()
            await wait_status(runtime, lambda s: s.role == "leader" and s.notice is None)
            async with StreamClient(server.url, "/elected") as client:
                await wait_synced(runtime, client)
                await assert_mirror_matches_server(runtime, client)
        finally:
            foreign.release()
            await registry.aclose()
