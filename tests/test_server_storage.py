"""Server storage: chunking, atomic appends, snapshots and their rebuild from the log."""

from pathlib import Path

import apsw
import orjson
import pytest

from server.core_state import CORE_STATE_VERSION
from server.engine import StreamEngine
from server.storage import CHUNK_SIZE, EventRow, StreamStorage, stream_file


def open_storage(tmp_path: Path, path: str = "/s") -> StreamStorage:
    return StreamStorage(stream_file(tmp_path, "default", path), "default", path)


def row(offset: int, data: bytes, key: str | None = None) -> EventRow:
    return EventRow(offset, "test.x", "2026-06-01T12:00:00.000Z", key, data)


def test_small_events_inline_large_events_chunked(tmp_path: Path) -> None:
    storage = open_storage(tmp_path)
    big = b"x" * (700 * 1024)
    huge = b"y" * (2 * CHUNK_SIZE + 5)
    storage.append([row(1, b'{"a":1}'), row(2, big), row(3, huge, "k")], b"{}", 1)
    assert storage.chunk_count(1) == 0
    assert storage.chunk_count(2) == 2
    assert storage.chunk_count(3) == 3
    assert storage.range(0, None, None) == [b'{"a":1}', big, huge]
    assert storage.range(1, 3, None) == [big]
    assert storage.range(0, None, 2) == [b'{"a":1}', big]
    assert storage.get_by_key("k") == huge
    assert storage.get_by_key("missing") is None
    assert storage.max_offset() == 3


def test_a_failed_append_stores_nothing(tmp_path: Path) -> None:
    storage = open_storage(tmp_path)
    storage.append([row(1, b"1", "k")], b'{"v":1}', CORE_STATE_VERSION)
    with pytest.raises(apsw.ConstraintError):
        storage.append([row(2, b"2"), row(3, b"x" * (CHUNK_SIZE + 1)), row(4, b"4", "k")], b"{}", 4)
    assert storage.max_offset() == 1
    assert storage.chunk_count(3) == 0
    snapshot = storage.read_state()
    assert snapshot is not None and snapshot.data == b'{"v":1}'


def test_files_are_per_stream_and_guarded(tmp_path: Path) -> None:
    a = stream_file(tmp_path, "default", "/a")
    assert a != stream_file(tmp_path, "other", "/a")
    assert a != stream_file(tmp_path, "default", "/b/a")
    assert stream_file(tmp_path, "default", "/").name.startswith("default--root--")
    open_storage(tmp_path, "/a").close()
    with pytest.raises(RuntimeError, match="belongs to another stream"):
        StreamStorage(a, "other", "/a")


def test_stale_snapshot_is_rebuilt_from_the_log(tmp_path: Path) -> None:
    storage = open_storage(tmp_path)
    engine = StreamEngine.wake("default", "/s", storage)
    engine.append_batch(
        [{"type": "test.x"}, {"type": "events.iterate.com/stream/paused", "payload": {}}]
    )
    expected = engine.state
    # Plant an old-version snapshot with a bogus shape, as the reference's test does.
    storage.write_state(orjson.dumps({"processorsBySlug": {"x": {"old": 1}}}), 3)
    storage.close()

    reopened = open_storage(tmp_path)
    rebuilt = StreamEngine("default", "/s", reopened)
    assert rebuilt.state == expected
    snapshot = reopened.read_state()
    assert snapshot is not None and snapshot.version == CORE_STATE_VERSION
    assert orjson.loads(snapshot.data) == expected


def test_snapshot_behind_the_log_catches_up(tmp_path: Path) -> None:
    storage = open_storage(tmp_path)
    engine = StreamEngine.wake("default", "/s", storage)
    old = orjson.dumps(engine.state)
    engine.append_batch([{"type": "test.x"}, {"type": "test.y"}])
    expected = engine.state
    storage.write_state(old, CORE_STATE_VERSION)
    storage.close()

    reopened = open_storage(tmp_path)
    assert StreamEngine("default", "/s", reopened).state == expected
