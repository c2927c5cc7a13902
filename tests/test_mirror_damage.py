"""Damage anywhere in a real mirror file is found and healed: random bytes over a leaf page in
the middle of ``events`` and over a page of the ``(type, local_index)`` index, written while no
process holds the file. On reopen the writer finds it (background quick_check or the first
write), moves the file aside, rebuilds from the server and ends equal to it; read-only views
say what is wrong instead of raising."""

from __future__ import annotations

from pathlib import Path

import pytest
from fault_support import page_of, write_garbage
from mirror_support import (
    assert_mirror_matches_server,
    open_registry,
    seed,
    synced_runtime,
    wait_status,
    wait_synced,
)

from mirror.integrity import DamagedMirrorError, quick_check
from mirror.runtime import RuntimeStatus
from server.run import EmbeddedServer
from wire.stream_client import StreamClient

PATH = "/trust/damage"
pytestmark = pytest.mark.timeout(120)


async def mirrored_then_closed(data_dir: Path, url: str, client: StreamClient) -> Path:
    """A synced mirror of 6,000 events, closed cleanly; its file."""
    await seed(client, 6000, size=60)
    async with open_registry(data_dir) as registry:
        runtime = await synced_runtime(registry, url, client)
        file = runtime.mirror_file
    assert quick_check(file) is None
    return file


def healed(status: RuntimeStatus) -> bool:
    return status.notice is not None and "was damaged" in status.notice


@pytest.mark.parametrize("target", ["events", "events_type_local_index"])
async def test_damaged_page_is_found_moved_aside_and_rebuilt(
    tmp_path: Path, server: EmbeddedServer, client: StreamClient, target: str
) -> None:
    data_dir = tmp_path / "data"
    file = await mirrored_then_closed(data_dir, server.url, client)
    write_garbage(file, page_of(file, target))
    assert quick_check(file) is not None, "the garbage really damaged the file"

    async with open_registry(data_dir) as registry:
        runtime = registry.acquire(server.url, "default", PATH)
        runtime.retain()
        status = await wait_status(runtime, healed, 30)
        assert status.notice is not None and ".corrupt-" in status.notice
        await runtime.append({"type": "test/after-heal", "payload": {}})
        await wait_synced(runtime, client)
        await assert_mirror_matches_server(runtime, client)
        assert runtime.status.role == "leader" and runtime.status.connection == "subscribed"
    quarantined = list(file.parent.glob(file.name + ".corrupt-*"))
    assert [q.name for q in quarantined if not q.name.endswith(("-wal", "-shm"))], quarantined
    assert quick_check(file) is None


async def test_offline_view_of_a_damaged_file_says_so_and_never_raises(
    tmp_path: Path, server: EmbeddedServer, client: StreamClient
) -> None:
    data_dir = tmp_path / "data"
    file = await mirrored_then_closed(data_dir, server.url, client)
    write_garbage(file, page_of(file, "events"))

    async with open_registry(data_dir) as registry:
        runtime = registry.open_file(file)
        runtime.retain()
        reader = runtime.reader
        # Read every window a view would: the damaged one answers empty, the others work.
        windows = [reader.events_range(start, 500) for start in range(0, 6000, 500)]
        assert any(not rows for rows in windows) and any(rows for rows in windows)
        status = await wait_status(
            runtime, lambda s: s.notice is not None and "damaged" in s.notice
        )
        assert status.notice is not None and "open the stream online" in status.notice
        with pytest.raises(DamagedMirrorError, match="is damaged"):
            reader.query_readonly("SELECT count(json(raw_jsonb)) FROM events", 10)
        with pytest.raises(DamagedMirrorError, match="is damaged"):
            list(reader.iter_events_json())
    assert file.exists(), "an offline view never moves a file"
