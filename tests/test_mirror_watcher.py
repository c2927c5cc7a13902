"""The mirror file's watcher: typed changes, when they are (not) published, a replaced file, and
the runtime reader following the watcher's idea of the current file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from mirror.archive import archive_mirror
from mirror.db import MirrorDb
from mirror.mirror_change import MirrorChange, next_change
from mirror.mirror_watcher import MirrorWatcher
from mirror.processors import MirrorWriter
from mirror.runtime_reader import RuntimeReader

CREATED = "2026-06-01T12:00:00.000Z"


def ev(offset: int) -> dict[str, Any]:
    return {"type": "a", "offset": offset, "createdAt": CREATED}


async def wait_for(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.005)):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached in time")


def test_the_first_read_is_published_and_an_unchanged_one_is_not() -> None:
    first = next_change(None, count=3, incarnation="a", exists=True, replaced=False)
    assert first == MirrorChange(3, 3, "a")
    assert next_change(first, count=3, incarnation="a", exists=True, replaced=False) is None
    grown = next_change(first, count=5, incarnation="a", exists=True, replaced=False)
    assert grown == MirrorChange(5, 5, "a") and not grown.reloads_views


def test_fewer_rows_or_another_incarnation_is_a_clear() -> None:
    seen = MirrorChange(10, 10, "a")
    shrunk = next_change(seen, count=0, incarnation="a", exists=True, replaced=False)
    assert shrunk is not None and shrunk.cleared and not shrunk.replaced
    other = next_change(seen, count=12, incarnation="b", exists=True, replaced=False)
    assert other is not None and other.cleared
    recorded = next_change(
        MirrorChange(0, 0, None), count=0, incarnation="a", exists=True, replaced=False
    )
    assert recorded is not None and not recorded.cleared, "a first incarnation is no clear"


def test_a_replaced_file_is_published_even_with_the_same_counts() -> None:
    seen = MirrorChange(10, 10, "a")
    change = next_change(seen, count=10, incarnation="a", exists=True, replaced=True)
    assert change is not None and change.replaced and change.reloads_views
    gone = next_change(seen, count=0, incarnation=None, exists=False, replaced=True)
    assert gone == MirrorChange(0, 0, None, cleared=True, replaced=True, exists=False)


class Watched:
    def __init__(self, path: Path, watcher: MirrorWatcher, changes: list[MirrorChange]) -> None:
        self.path = path
        self.watcher = watcher
        self.changes = changes


@pytest.fixture
async def watched(tmp_path: Path) -> AsyncIterator[Watched]:
    path = tmp_path / "m.sqlite3"
    changes: list[MirrorChange] = []
    watcher = MirrorWatcher(
        path,
        loop=asyncio.get_running_loop(),
        poll_interval=0.05,
        coalesce_interval=0.016,
        on_change=changes.append,
    )
    watcher.start()
    yield Watched(path, watcher, changes)
    watcher.close()


async def test_a_file_that_appears_later_is_opened_and_own_commits_are_signalled(
    watched: Watched,
) -> None:
    await asyncio.sleep(0.1)
    assert watched.changes == [] and watched.watcher.current_identity() is None
    db = MirrorDb.open(watched.path)
    try:
        await wait_for(lambda: watched.changes != [])
        assert watched.changes[-1] == MirrorChange(0, 0, None)
        assert watched.watcher.current_identity() is not None
        db.add_commit_listener(watched.watcher.signal)
        db.set_incarnation(CREATED)
        MirrorWriter(db).apply_sync([ev(1), ev(2)])
        await wait_for(lambda: watched.changes[-1].count == 2)
        assert watched.changes[-1] == MirrorChange(2, 2, CREATED)
    finally:
        db.close()


async def test_a_commit_that_moves_no_event_publishes_nothing_and_reruns_no_query(
    watched: Watched,
) -> None:
    db = MirrorDb.open(watched.path)
    try:
        MirrorWriter(db).apply_sync([ev(1)])
        rows: list[list[tuple[Any, ...]]] = []
        watched.watcher.watch("SELECT count(*) FROM events", (), rows.append)
        await wait_for(lambda: rows == [[(1,)]])
        query = watched.watcher.queries.query("SELECT count(*) FROM events")
        runs, published = query.run_count, len(watched.changes)
        db.write_checkpoint("other", "", {"n": 1}, 1)  # seen through data_version only
        await asyncio.sleep(0.3)
        assert (query.run_count, len(watched.changes)) == (runs, published)
        MirrorWriter(db).apply_sync([ev(2)])
        await wait_for(lambda: rows[-1] == [(2,)])
        assert query.run_count == runs + 1
    finally:
        db.close()


async def test_a_replaced_file_is_followed_by_the_watch_and_the_runtime_reader(
    watched: Watched,
) -> None:
    db = MirrorDb.open(watched.path)
    db.set_incarnation(CREATED)
    MirrorWriter(db).apply_sync([ev(i) for i in range(1, 6)])
    reader = RuntimeReader(watched.path, identity=watched.watcher.current_identity)
    try:
        await wait_for(lambda: watched.changes != [] and watched.changes[-1].count == 5)
        assert reader.event_count() == 5
        archive_mirror(db)  # another writer moves the file aside and starts a new one
        fresh = MirrorDb.open(watched.path)
        try:
            fresh.set_incarnation("2026-07-01T00:00:00.000Z")
            MirrorWriter(fresh).apply_sync([ev(1), ev(2)])
            await wait_for(lambda: watched.changes[-1].count == 2)
            assert any(change.replaced for change in watched.changes)
            assert watched.changes[-1].incarnation == "2026-07-01T00:00:00.000Z"
            assert reader.event_count() == 2, "the reader follows the watcher to the new file"
        finally:
            fresh.close()
    finally:
        reader.close()
