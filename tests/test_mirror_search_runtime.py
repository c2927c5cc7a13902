"""The runtime keeps the search index current in its idle time: built after catch-up, extended
by live appends, picked up again by a new writer process after a SIGKILL, and rebuilt with the
mirror when the stream is reset."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from mirror_support import Worker, open_registry, seed, synced_runtime, wait_status, wait_synced

from mirror.paths import mirror_file
from mirror.runtime import StreamRuntime
from mirror.search.queries import SearchQuery, SearchReads
from server.run import EmbeddedServer
from wire.stream_client import StreamClient

PATH = "/search/runtime"
pytestmark = pytest.mark.timeout(120)


async def indexed(runtime: StreamRuntime | Path, through: int, seconds: float = 60) -> int:
    """Until the index covers offset ``through`` (written by another thread or process, so it
    is polled); returns what it covers."""
    file = runtime if isinstance(runtime, Path) else runtime.mirror_file
    reads = SearchReads.open(file)
    try:
        for _ in range(int(seconds / 0.05)):
            if (covered := reads.indexed_through()) >= through:
                return covered
            await asyncio.sleep(0.05)
    finally:
        reads.close()
    raise AssertionError(f"the index never reached offset {through} within {seconds} s")


def hits(file: Path, text: str) -> tuple[list[int], int]:
    reads = SearchReads.open(file)
    try:
        query = SearchQuery.build(text)
        page = reads.hits(query, limit=100)
        return list(page.offsets), reads.count(query).n
    finally:
        reads.close()


async def test_index_built_after_catch_up_and_kept_current_live(
    tmp_path: Path, server: EmbeddedServer
) -> None:
    async with StreamClient(server.url, PATH) as client, open_registry(tmp_path / "d") as registry:
        head = await seed(client, 3000, size=20)
        runtime = await synced_runtime(registry, server.url, client)
        await indexed(runtime, head)
        committed = await client.append({"type": "note", "payload": {"text": "a zanzibar visit"}})
        await wait_synced(runtime, client)
        await indexed(runtime, committed["offset"])
        offsets, count = hits(runtime.mirror_file, "ZANZIBAR")
        assert offsets == [committed["offset"]] and count == 1
        assert runtime.status.connection == "subscribed"


async def test_a_new_writer_resumes_the_index_after_sigkill(
    tmp_path: Path, server: EmbeddedServer
) -> None:
    data = tmp_path / "d"
    async with StreamClient(server.url, PATH) as client:
        head = await seed(client, 20_000, batch=5000, size=20)
        worker = await Worker.start(data, server.url, PATH)
        try:
            await worker.wait_line(lambda line: line.get("connection") == "subscribed", 60)
            covered = await indexed(mirror_file(data, server.url, "default", PATH), 1, 60)
        finally:
            worker.kill()
            await worker.process.wait()
        async with open_registry(data) as registry:
            runtime = await synced_runtime(registry, server.url, client)
            assert await indexed(runtime, head) >= head >= covered
            marker = await client.append({"type": "note", "payload": {"text": "qwertyuiop"}})
            await indexed(runtime, marker["offset"])
            offsets, count = hits(runtime.mirror_file, "qwertyuiop")
            assert offsets == [marker["offset"]] and count == 1
            # Every event is in the index exactly once: a term all seeded events share.
            _, seeded = hits(runtime.mirror_file, "test/type-")
            assert seeded == 20_000


async def test_index_is_rebuilt_with_the_mirror_after_a_reset(
    tmp_path: Path, server: EmbeddedServer
) -> None:
    async with StreamClient(server.url, PATH) as client, open_registry(tmp_path / "d") as registry:
        await client.append({"type": "note", "payload": {"text": "only-before-the-reset"}})
        head = await seed(client, 1500, size=20)
        runtime = await synced_runtime(registry, server.url, client)
        await indexed(runtime, head)
        assert hits(runtime.mirror_file, "only-before-the-reset")[1] == 1
        await client.reset()
        after = await client.append({"type": "note", "payload": {"text": "only-after-the-reset"}})
        state = await client.runtime_state()
        created = state["coreProcessorState"]["createdAt"]
        await wait_status(runtime, lambda s: s.incarnation == created)
        await wait_synced(runtime, client)
        await indexed(runtime, after["offset"])
        assert hits(runtime.mirror_file, "only-before-the-reset") == ([], 0)
        assert hits(runtime.mirror_file, "only-after-the-reset") == ([after["offset"]], 1)


async def test_the_index_is_a_per_mirror_setting(tmp_path: Path, server: EmbeddedServer) -> None:
    async with StreamClient(server.url, PATH) as client, open_registry(tmp_path / "d") as registry:
        head = await seed(client, 1000, size=20)
        runtime = await synced_runtime(registry, server.url, client)
        await indexed(runtime, head)
        await runtime.set_search_index(False)
        reads = SearchReads.open(runtime.mirror_file)
        try:
            assert reads.indexed_through() == 0
            # Still found, by a scan.
            assert reads.count(SearchQuery.build("test/type-")).n == 1000
        finally:
            reads.close()
        committed = await client.append({"type": "note", "payload": {}})
        await wait_synced(runtime, client)
        reads = SearchReads.open(runtime.mirror_file)
        try:
            assert reads.indexed_through() == 0, "nothing is indexed while it is off"
        finally:
            reads.close()
        await runtime.set_search_index(True)
        await indexed(runtime, committed["offset"])
    # With no process writing it, the setting is changed under the writer lock.
    async with open_registry(tmp_path / "d") as registry:
        offline = registry.open_file(runtime.mirror_file)
        offline.retain()
        await offline.set_search_index(False)
        assert await indexed(runtime.mirror_file, 0) == 0
