"""Counts cut in parts over a pool of read connections equal the one-connection count and a
brute-force scan, on a real mirror past ``PARALLEL_MIN`` events with its index built part way.
A pool whose connections see another incarnation, or an index that is gone, answers nothing
and the caller counts those parts itself. A recount from a known count of the same
incarnation counts only the events since."""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import apsw
import pytest
from search_support import append, brute_force, committed, write_mirror

from mirror.db import MirrorDb
from mirror.search.indexer import SearchIndexer, set_search_enabled
from mirror.search.queries import PARALLEL_MIN, SearchQuery, SearchReads
from mirror.search.scan_pool import ScanPool, incarnation_in, open_read_connection
from mirror.search.store import CHAR_BLOCK

COUNT = PARALLEL_MIN + 3 * CHAR_BLOCK + 5
INDEXED = PARALLEL_MIN // 2 + 7
WORDS = ["alpha", "beta", "refund", "zq", "x"]
TYPES = ["a/one", "b/two"]


def body(i: int) -> dict[str, Any]:
    return {
        "type": TYPES[i % 2],
        "payload": {"w": WORDS[i % 5] + WORDS[i * 7 % 5], "n": i % 1000},
    }


QUERIES: list[tuple[str, str, str | None, list[str] | None]] = [
    ("phrase", "refund", None, None),
    ("two characters", "zq", None, None),
    ("one character", "x", None, None),
    ("one character + type", "x", None, ["b/two"]),
    ("filter", "", "payload.n > 990", None),
    ("text + filter", "beta", "payload.n < 10", None),
]


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    path = tmp_path_factory.mktemp("pool") / "m.sqlite3"
    bodies = [body(i) for i in range(COUNT)]
    db = write_mirror(path, bodies)
    indexer = SearchIndexer(db)
    while indexer.progress().indexed_through < INDEXED:
        indexer.index_next(min(20_000, INDEXED - indexer.progress().indexed_through))
    db.close()
    return path, committed(bodies)


def expected(
    events: list[dict[str, Any]], text: str, where: str | None, types: list[str] | None
) -> int:
    predicate = None
    if where == "payload.n > 990":
        predicate = lambda e: e["payload"]["n"] > 990  # noqa: E731
    elif where == "payload.n < 10":
        predicate = lambda e: e["payload"]["n"] < 10  # noqa: E731
    return len(brute_force(events, text, predicate, types))


@pytest.mark.parametrize(("name", "text", "where", "types"), QUERIES)
def test_a_pooled_count_equals_one_connection_and_a_brute_force_scan(
    mirror: tuple[Path, list[dict[str, Any]]],
    name: str,
    text: str,
    where: str | None,
    types: list[str] | None,
) -> None:
    path, events = mirror
    query = SearchQuery.build(text, where=where, types=types)
    single = SearchReads.open(path)
    pooled = SearchReads.open(path, scan_threads=2)
    try:
        want = expected(events, text, where, types)
        assert want > 0, name
        assert pooled.count(query).n == want
        assert single.count(query).n == want
        through = COUNT - 2 * CHAR_BLOCK - 3
        assert pooled.count(query, through).n == expected(events[:through], text, where, types)
    finally:
        single.close()
        pooled.close()


def test_parts_a_pool_cannot_answer_are_counted_by_the_caller(
    mirror: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    path, events = mirror
    other = tmp_path / "other.sqlite3"
    shutil.copyfile(path, other)
    db = MirrorDb.open(other)
    db.connection.execute("UPDATE mirror_meta SET value = 'another' WHERE key = 'incarnation'")
    db.close()
    no_index = tmp_path / "no-index.sqlite3"
    shutil.copyfile(path, no_index)
    db = MirrorDb.open(no_index)
    set_search_enabled(db, False)
    db.close()
    for pool_file in (other, no_index):
        reads = SearchReads(open_read_connection(path), ScanPool.open(pool_file, 2))
        try:
            for _, text, where, types in QUERIES:
                query = SearchQuery.build(text, where=where, types=types)
                assert reads.count(query).n == expected(events, text, where, types)
        finally:
            reads.close()


def test_an_interrupt_reaches_the_pool(mirror: tuple[Path, list[dict[str, Any]]]) -> None:
    path, _ = mirror
    probe = open_read_connection(path)
    incarnation = incarnation_in(probe)
    probe.close()
    pool = ScanPool.open(path, 1)
    try:

        def endless(conn: apsw.Connection) -> int | None:
            rows = conn.execute(
                "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) "
                "SELECT count(*) FROM c"
            ).fetchall()
            return int(str(rows[0][0]))

        (future,) = pool.submit([endless], incarnation)
        # An interrupt only stops a statement that runs: repeat until it did.
        while not future.done():
            pool.interrupt()
            time.sleep(0.01)
        with pytest.raises(apsw.InterruptError):
            future.result()
    finally:
        pool.close()


def test_each_pool_connection_counts_a_part(mirror: tuple[Path, list[dict[str, Any]]]) -> None:
    path, events = mirror
    seen: list[list[str]] = [[], []]
    conns = [open_read_connection(path) for _ in seen]
    for conn, statements in zip(conns, seen, strict=True):

        def trace(_: apsw.Cursor, sql: str, __: object, statements: list[str] = statements) -> bool:
            statements.append(sql)
            return True

        conn.exec_trace = trace
    reads = SearchReads(open_read_connection(path), ScanPool(conns))
    try:
        query = SearchQuery.build(where="payload.n > 990")
        assert reads.count(query).n == expected(events, "", "payload.n > 990", None)
        for statements in seen:
            assert any("count(*)" in sql and "BETWEEN" in sql for sql in statements)
    finally:
        reads.close()


def test_a_recount_counts_only_the_events_since_a_count_of_the_same_incarnation(
    tmp_path: Path,
) -> None:
    bodies = [body(i) for i in range(3000)]
    db = write_mirror(tmp_path / "m.sqlite3", bodies[:2000])
    db.set_incarnation("2026-06-01T12:00:00.000Z")
    SearchIndexer(db).index_next(1500)
    reads = SearchReads.open(db.path)
    try:
        query = SearchQuery.build("zq")
        first = reads.count(query)
        assert first.n == expected(committed(bodies[:2000]), "zq", None, None)
        append(db, bodies[2000:])
        again = reads.count(query, known=first)
        assert again.n == expected(committed(bodies), "zq", None, None)
        assert (again.total, again.incarnation) == (3000, first.incarnation)
        # The known count is taken as it is: only the events past its total are counted.
        trusted = replace(first, n=first.n + 1000)
        assert reads.count(query, known=trusted).n == again.n + 1000
        # Another incarnation, a longer mirror, no incarnation, or a partial count: all again.
        for stale in (
            replace(trusted, incarnation="2026-07-01T00:00:00.000Z"),
            replace(trusted, total=5000),
            replace(trusted, incarnation=None),
        ):
            assert reads.count(query, known=stale).n == again.n
        assert reads.count(query, through=2500, known=trusted).n == expected(
            committed(bodies[:2500]), "zq", None, None
        )
    finally:
        reads.close()
        db.close()
