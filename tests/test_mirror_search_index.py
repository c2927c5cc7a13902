"""The search index as the runtime will drive it: chunked builds on the writer, resumed after a
crash (a real subprocess killed with SIGKILL), an aborted transaction, discard, the off setting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import apsw
import pytest
from mirror_support import REPO_ROOT
from search_support import append, brute_force, committed, write_mirror

from mirror.db import MirrorDb
from mirror.search.indexer import SearchIndexer, set_search_enabled
from mirror.search.queries import SearchQuery, SearchReads
from mirror.search.store import SEARCH_INDEX_SLUG, SEARCH_TABLE


def bodies(count: int, start: int = 0) -> list[dict[str, object]]:
    return [
        {
            "type": f"test/kind-{n % 3}",
            "payload": {"n": n, "text": f"order {n} refund" if n % 7 == 0 else f"order {n}"},
            "metadata": {"latencyMs": n % 1000},
        }
        for n in range(start, start + count)
    ]


def indexed_rowids(path: Path, term: str = "order") -> list[int]:
    """Every rowid the index returns for a term every event holds (duplicates kept)."""
    conn = apsw.Connection(str(path))
    try:
        rows = conn.execute(
            f"SELECT rowid FROM {SEARCH_TABLE} WHERE {SEARCH_TABLE} MATCH ?", (f'"{term}"',)
        ).fetchall()
    finally:
        conn.close()
    return [int(str(r)) for (r,) in rows]


def search(path: Path, text: str) -> tuple[list[int], int, int]:
    """(every hit in one page, the count, indexed_through) read from another connection."""
    reads = SearchReads.open(path)
    try:
        query = SearchQuery.build(text)
        page = reads.hits(query, 0, 10_000)
        assert page.exhausted
        return page.offsets, reads.count(query).n, page.indexed_through
    finally:
        reads.close()


def test_chunks_advance_the_checkpoint_and_the_index_answers(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    db = write_mirror(path, bodies(1000))
    indexer = SearchIndexer(db)
    first = indexer.index_next(300)
    assert (first.indexed_through, first.total, first.enabled) == (300, 1000, True)
    assert db.read_checkpoint(SEARCH_INDEX_SLUG).offset == 300  # type: ignore[union-attr]
    assert sorted(indexed_rowids(path)) == list(range(300))
    # Half indexed: the index answers its part, the scan the tail; together, the whole truth.
    events = committed(bodies(1000))
    hits, n, through = search(path, "REFUND")
    assert through == 300 and hits == brute_force(events, "refund") and n == len(hits)
    assert indexer.build(300).indexed_through == 1000
    append(db, bodies(50, 1000))
    assert indexer.index_next().indexed_through == 1050
    events = committed(bodies(1050))
    hits, n, through = search(path, "refund")
    assert through == 1050 and hits == brute_force(events, "refund") and n == len(hits)
    assert sorted(indexed_rowids(path)) == list(range(1050))
    db.close()


def test_an_aborted_transaction_leaves_neither_rows_nor_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    db = write_mirror(path, bodies(200))
    indexer = SearchIndexer(db)
    indexer.index_next(100)
    with pytest.raises(RuntimeError), db.transaction():
        assert indexer.index_next(50).indexed_through == 150
        raise RuntimeError("crash before commit")
    assert indexer.progress().indexed_through == 100
    assert sorted(indexed_rowids(path)) == list(range(100))
    assert indexer.build().indexed_through == 200
    assert sorted(indexed_rowids(path)) == list(range(200))
    db.close()


_BUILDER = """
import sys
from mirror.db import MirrorDb
from mirror.search.indexer import SearchIndexer
db = MirrorDb.open(sys.argv[1])
indexer = SearchIndexer(db)
while True:
    progress = indexer.index_next(25)
    print(progress.indexed_through, flush=True)
    if progress.done:
        break
"""


def test_a_build_killed_mid_way_resumes_without_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    write_mirror(path, bodies(20_000)).close()
    process = subprocess.Popen(
        [sys.executable, "-c", _BUILDER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert process.stdout is not None
    reported = [int(process.stdout.readline()) for _ in range(20)]
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=20)
    assert process.returncode == -signal.SIGKILL
    assert reported[-1] == 500
    db = MirrorDb.open(path)
    indexer = SearchIndexer(db)
    through = indexer.progress().indexed_through
    assert 500 <= through < 20_000, "the kill should land mid-build"
    # What survived is exactly what the checkpoint says: no row past it, none twice.
    assert sorted(indexed_rowids(path)) == list(range(through))
    assert indexer.build().indexed_through == 20_000
    assert sorted(indexed_rowids(path)) == list(range(20_000))
    db.close()
    hits, n, _ = search(path, "19999 refund")
    assert hits == [20_000] and n == 1


def test_discard_clears_the_index_and_the_next_stream_is_indexed_afresh(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    db = write_mirror(path, bodies(300))
    indexer = SearchIndexer(db)
    indexer.build()
    db.discard()
    assert db.read_checkpoint(SEARCH_INDEX_SLUG) is None
    assert indexer.progress().indexed_through == 0
    fresh = [{"type": "other/kind", "payload": {"text": "brand new"}}] * 40
    append(db, fresh)
    assert indexer.build().indexed_through == 40
    assert sorted(indexed_rowids(path, "brand new")) == list(range(40))
    assert indexed_rowids(path, "refund") == []
    db.close()


def test_a_missing_checkpoint_means_stale_rows_are_dropped(tmp_path: Path) -> None:
    """As after a schema reset: the table survives, the checkpoint does not."""
    path = tmp_path / "m.sqlite3"
    db = write_mirror(path, bodies(100))
    indexer = SearchIndexer(db)
    indexer.build()
    db.delete_checkpoints(SEARCH_INDEX_SLUG)
    assert indexer.build().indexed_through == 100
    assert sorted(indexed_rowids(path)) == list(range(100))
    db.close()


def test_off_drops_the_index_and_searches_still_answer(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    db = write_mirror(path, bodies(400))
    indexer = SearchIndexer(db)
    indexer.build()
    set_search_enabled(db, False)
    schema = db.connection.execute("SELECT name FROM sqlite_schema").fetchall()
    assert (SEARCH_TABLE,) not in schema
    progress = indexer.index_next()
    assert (progress.enabled, progress.indexed_through, progress.done) == (False, 0, True)
    assert (SEARCH_TABLE,) not in db.connection.execute("SELECT name FROM sqlite_schema")
    assert db.read_checkpoint(SEARCH_INDEX_SLUG) is None
    events = committed(bodies(400))
    hits, n, through = search(path, "refund")
    assert through == 0 and hits == brute_force(events, "refund") and n == len(hits)
    set_search_enabled(db, True)
    assert indexer.build().indexed_through == 400
    hits, _, through = search(path, "refund")
    assert through == 400 and hits == brute_force(events, "refund")
    db.close()
