"""Live queries (through the file's watcher): coalescing, change detection, garbage collection,
cross-process commits."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from mirror.db import MirrorDb
from mirror.live_query import LiveQueries, LiveQuery
from mirror.mirror_change import MirrorChange
from mirror.mirror_watcher import MirrorWatcher
from mirror.processors import MirrorWriter

REPO_ROOT = Path(__file__).resolve().parent.parent
COUNT_SQL = "SELECT count(*) FROM events"


def ev(offset: int, event_type: str = "a") -> dict[str, Any]:
    return {"type": event_type, "offset": offset, "createdAt": "2026-06-01T12:00:00.000Z"}


class Setup:
    def __init__(self, db: MirrorDb, watcher: MirrorWatcher) -> None:
        self.db = db
        self.watcher = watcher
        self.live: LiveQueries = watcher.queries
        self.coalesce_interval = watcher.coalescer.interval
        self.writer = MirrorWriter(db)


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    db = MirrorDb.open(tmp_path / "m.sqlite3")
    changes: list[MirrorChange] = []
    watcher = MirrorWatcher(
        db.path,
        loop=asyncio.get_running_loop(),
        poll_interval=0.05,
        coalesce_interval=0.016,
        on_change=changes.append,
    )
    remove = db.add_commit_listener(watcher.signal)
    watcher.start()
    yield Setup(db, watcher)
    remove()
    watcher.close()
    db.close()


async def wait_for(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.005)):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached in time")


def collect(query: LiveQuery) -> tuple[list[list[tuple[Any, ...]]], Callable[[], None]]:
    results: list[list[tuple[Any, ...]]] = []
    unsubscribe = query.subscribe(lambda q: results.append(list(q.rows)))
    return results, unsubscribe


async def test_first_subscriber_runs_the_query(setup: Setup) -> None:
    setup.writer.apply_sync([ev(1), ev(2)])
    query = setup.live.query(COUNT_SQL)
    assert (query.status, query.run_count) == ("pending", 0)
    results, _ = collect(query)
    await wait_for(lambda: results != [])
    assert results == [[(2,)]] and query.status == "ok"


async def test_same_sql_and_params_share_one_query(setup: Setup) -> None:
    a = setup.live.query("SELECT offset FROM events WHERE offset > ?", [1])
    b = setup.live.query("SELECT offset FROM events WHERE offset > ?", (1,))
    c = setup.live.query("SELECT offset FROM events WHERE offset > ?", (2,))
    assert a is b and a is not c


async def test_commit_in_process_notifies_with_the_new_result(setup: Setup) -> None:
    results, _ = collect(setup.live.query(COUNT_SQL))
    await wait_for(lambda: results == [[(0,)]])
    await setup.writer.ingest([ev(1), ev(2), ev(3)])
    await wait_for(lambda: len(results) == 2)
    assert results[-1] == [(3,)]


async def test_change_signals_are_coalesced(setup: Setup) -> None:
    query = setup.live.query(COUNT_SQL)
    results, _ = collect(query)
    await wait_for(lambda: results != [])
    runs = query.run_count
    for offset in range(1, 51):
        setup.writer.apply_sync([ev(offset)])  # 50 commits, each a change signal
    await wait_for(lambda: results[-1] == [(50,)])
    assert query.run_count - runs <= 2


async def test_spread_out_changes_rerun_at_most_once_per_interval(setup: Setup) -> None:
    query = setup.live.query(COUNT_SQL)
    results, _ = collect(query)
    await wait_for(lambda: results != [])
    runs = query.run_count
    loop = asyncio.get_running_loop()
    started = loop.time()
    for offset in range(1, 41):
        setup.writer.apply_sync([ev(offset)])
        await asyncio.sleep(0.002)
    await wait_for(lambda: results[-1] == [(40,)])
    elapsed = loop.time() - started
    assert query.run_count - runs <= elapsed / setup.coalesce_interval + 2
    assert query.run_count - runs < 40


async def test_unchanged_result_does_not_notify(setup: Setup) -> None:
    setup.writer.apply_sync([ev(1, "a")])
    query = setup.live.query("SELECT count(*) FROM events WHERE type = 'a'")
    results, _ = collect(query)
    await wait_for(lambda: results != [])
    runs = query.run_count
    setup.writer.apply_sync([ev(2, "b")])  # a change that does not touch this result
    await wait_for(lambda: query.run_count > runs)
    await asyncio.sleep(0.1)
    assert results == [[(1,)]]
    setup.writer.apply_sync([ev(3, "a")])
    await wait_for(lambda: len(results) == 2)
    assert results[-1] == [(2,)]


async def test_never_subscribed_query_is_dropped(setup: Setup) -> None:
    query = setup.live.query(COUNT_SQL)
    assert setup.live.query_count == 1
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert setup.live.query_count == 0
    setup.writer.apply_sync([ev(1)])
    await asyncio.sleep(0.1)
    assert query.run_count == 0


async def test_query_is_dropped_after_last_unsubscribe_and_comes_back(setup: Setup) -> None:
    query = setup.live.query(COUNT_SQL)
    results, unsubscribe = collect(query)
    await wait_for(lambda: results != [])
    unsubscribe()
    await asyncio.sleep(0.01)
    assert setup.live.query_count == 0
    runs = query.run_count
    setup.writer.apply_sync([ev(1)])
    await asyncio.sleep(0.1)
    assert query.run_count == runs  # nobody observes it: not re-run
    results, _ = collect(query)  # a late subscriber re-registers it
    await wait_for(lambda: results == [[(1,)]])
    assert setup.live.query_count == 1


async def test_new_window_is_seeded_from_the_same_sql(setup: Setup) -> None:
    setup.writer.apply_sync([ev(i) for i in range(1, 11)])
    sql = "SELECT offset FROM events WHERE local_index >= ? ORDER BY local_index LIMIT 3"
    first, _ = collect(setup.live.query(sql, (0,)))
    await wait_for(lambda: first != [])
    second = setup.live.query(sql, (5,))
    assert second.status == "pending" and second.rows == [(1,), (2,), (3,)]


async def test_missing_table_reads_as_empty(setup: Setup) -> None:
    count = setup.live.query("SELECT COUNT(*) FROM no_such_table")
    rows = setup.live.query("SELECT * FROM no_such_table")
    collect(count)
    collect(rows)
    await wait_for(lambda: count.status == "ok" and rows.status == "ok")
    assert count.rows == [(0,)] and rows.rows == []


async def test_sql_error_sets_error_status(setup: Setup) -> None:
    query = setup.live.query("SELECT no_such_column FROM events")
    results, _ = collect(query)
    await wait_for(lambda: query.status == "error")
    assert query.error is not None and len(results) == 1


async def test_commit_from_another_process_is_noticed(setup: Setup) -> None:
    results, _ = collect(setup.live.query(COUNT_SQL))
    await wait_for(lambda: results == [[(0,)]])
    script = textwrap.dedent(
        f"""
        from mirror.db import MirrorDb
        from mirror.processors import MirrorWriter
        db = MirrorDb.open({str(setup.db.path)!r})
        MirrorWriter(db).apply_sync(
            [{{"type": "a", "offset": i, "createdAt": "2026-06-01T12:00:00.000Z"}}
             for i in range(1, 8)]
        )
        db.close()
        """
    )
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", script, cwd=REPO_ROOT)
    assert await asyncio.wait_for(process.wait(), 30) == 0
    await wait_for(lambda: results[-1] == [(7,)])


async def test_commit_from_a_second_connection_is_noticed(setup: Setup) -> None:
    other = MirrorDb.open(setup.db.path)  # no commit listener wired: only data_version can tell
    results, _ = collect(setup.live.query(COUNT_SQL))
    await wait_for(lambda: results == [[(0,)]])
    MirrorWriter(other).apply_sync([ev(1), ev(2)])
    await wait_for(lambda: results[-1] == [(2,)])
    other.close()
