"""The runtime across real processes: a server killed mid catch-up, a writer killed with SIGKILL,
two processes on one data directory. Each ends with the mirror compared event by event."""

from __future__ import annotations

import asyncio
import signal
import time
from functools import partial
from pathlib import Path
from typing import Any

import apsw
import pytest
from conftest import ServerProcess
from mirror_support import (
    Worker,
    assert_mirror_matches_server,
    free_port,
    seed,
    wait_status,
    wait_synced,
)

from mirror.paths import mirror_file
from mirror.runtime import RuntimeRegistry, RuntimeStatus, RuntimeTiming
from mirror.schema import EVENT_FEED_SLUG, RAW_EVENTS_SLUG
from server.run import EmbeddedServer
from wire.stream_client import StreamClient

PATH = "/runtime/processes"
pytestmark = pytest.mark.timeout(180)


async def test_server_killed_mid_catch_up_resumes_from_the_checkpoint(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "server", "--port", str(free_port()))
    url = server.start()
    timing = RuntimeTiming(catchup_page=1000, election_poll=0.05, probe_interval=30.0)
    registry = RuntimeRegistry(tmp_path / "data", timing=timing)
    try:
        async with StreamClient(url, PATH) as client:
            total = await seed(client, 100_000, batch=5000, size=40)
        runtime = registry.acquire(url, "default", PATH)
        statuses: list[RuntimeStatus] = []
        runtime.add_listener(statuses.append)
        runtime.retain()
        await wait_status(runtime, lambda s: s.catchup is not None and s.catchup.done >= 5000)
        server.stop(signal.SIGKILL)
        await wait_status(runtime, lambda s: s.connection == "reconnecting")
        seen_before_kill = len(statuses)
        checkpoint = runtime.reader.event_count()
        assert 5000 <= checkpoint < total, "killed mid catch-up"

        assert server.start() == url  # same port, same data directory
        async with StreamClient(url, PATH) as client:
            await wait_synced(runtime, client, 60)
            resumed = [s.catchup.done for s in statuses[seen_before_kill:] if s.catchup]
            assert resumed and resumed[0] >= checkpoint, "the second catch-up started at it"
            await assert_mirror_matches_server(runtime, client)
    finally:
        await registry.aclose()
        server.stop()


def read_consistency(file: Path) -> tuple[int, int, int, int, int]:
    """(rows, raw checkpoint, feed checkpoint, last feed offset, events in feed rows)."""
    conn = apsw.Connection(str(file), flags=apsw.SQLITE_OPEN_READWRITE)
    try:

        def scalar(sql: str, *params: object) -> int:
            value = conn.execute(sql, params).fetchall()[0][0]
            return int(value or 0)

        checkpoint = (
            "SELECT max_offset FROM processor_state WHERE processor_slug = ? "
            "AND subscription_key LIKE 'default:%'"
        )
        return (
            scalar("SELECT max(local_index) + 1 FROM events"),
            scalar(checkpoint, RAW_EVENTS_SLUG),
            scalar(checkpoint, EVENT_FEED_SLUG),
            scalar("SELECT max(last_offset) FROM feed_items"),
            scalar("SELECT sum(event_count) FROM feed_items"),
        )
    finally:
        conn.close()


async def test_writer_killed_during_heavy_ingest_leaves_rows_and_checkpoint_in_agreement(
    tmp_path: Path, server: EmbeddedServer
) -> None:
    async with StreamClient(server.url, PATH) as client:
        total = await seed(client, 100_000, batch=5000, size=40)
        worker = await Worker.start(tmp_path / "data", server.url, PATH, "--catchup-page", "2000")
        try:
            await worker.wait_line(lambda line: (line.get("catchup_done") or 0) >= 20_000, 60)
        finally:
            worker.kill()
            await worker.process.wait()
        file = mirror_file(tmp_path / "data", server.url, "default", PATH)
        rows, raw_checkpoint, feed_checkpoint, feed_last, feed_events = read_consistency(file)
        assert 20_000 <= rows < total, "killed mid ingest"
        assert raw_checkpoint == rows
        assert feed_checkpoint == feed_last == feed_events == rows

        registry = RuntimeRegistry(tmp_path / "data")
        try:
            runtime = registry.acquire(server.url, "default", PATH)
            runtime.retain()
            await wait_synced(runtime, client, 60)
            await assert_mirror_matches_server(runtime, client)
        finally:
            await registry.aclose()


async def test_two_processes_share_one_mirror_with_one_writer(
    tmp_path: Path, server: EmbeddedServer
) -> None:
    data = tmp_path / "data"
    async with StreamClient(server.url, PATH) as client:
        await seed(client, 100)
        first = await Worker.start(data, server.url, PATH)
        second = await Worker.start(data, server.url, PATH)
        workers = [first, second]
        try:
            for worker in workers:
                await worker.wait_line(lambda line: line.get("role") in ("leader", "follower"))
            await first.wait_line(lambda line: line.get("connection") == "subscribed")
            await second.wait_line(lambda line: line.get("connection") == "subscribed")
            roles = {worker.last("status")["role"]: worker for worker in workers}  # type: ignore[index]
            assert set(roles) == {"leader", "follower"}, "exactly one writer"
            leader, follower = roles["leader"], roles["follower"]
            state = await client.runtime_state()
            ours = [key for key in state["coreProcessorState"]["connectionsByKey"]]
            assert len(ours) == 1, ours

            latencies = []
            for i in range(7):
                started = time.time()
                committed = await client.append({"type": "test/seen-by-follower", "payload": i})
                line = await follower.wait_line(partial(_live_at_least, committed["offset"]))
                latencies.append(line["t"] - started)
                await asyncio.sleep(0.05)
            # Behaviour, not speed (bench/tail_latency.py measures it): every event reached
            # the follower through the leader's commits, none was stuck behind a poll.
            assert len(latencies) == 7 and max(latencies) < 10, latencies

            leader.kill()
            killed = time.time()
            line = await follower.wait_line(
                lambda line: line.get("role") == "leader" and line.get("connection") == "subscribed"
            )
            # Generous: bench/tail_latency.py measures the takeover time.
            assert line["t"] - killed < 10, "the follower took over"
            committed = await client.append({"type": "test/after-takeover"})
            await follower.wait_line(
                lambda line: line["kind"] == "live" and line["count"] >= committed["offset"]
            )
            file = mirror_file(data, server.url, "default", PATH)
            await assert_mirror_matches_server(file, client, through=committed["offset"])
        finally:
            for worker in workers:
                await worker.stop()


def _live_at_least(offset: int, line: dict[str, Any]) -> bool:
    return bool(line["kind"] == "live" and line["count"] >= offset)
