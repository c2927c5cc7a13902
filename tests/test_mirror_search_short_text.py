"""One- and two-character searches answered by the index: two characters by the trigrams they
begin (an occurrence at the very end of the searched text included), one character by the
index's per-block character counts. Checked against a brute-force Python scan on mirrors of
a few blocks, with the index built to block boundaries and between them; a reads connection
that may not read event bodies proves the count came from the index, not from a scan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import apsw
import pytest
from search_support import brute_force, committed, write_mirror

from mirror.search.indexer import SearchIndexer
from mirror.search.queries import SearchQuery, SearchReads
from mirror.search.store import CHAR_BLOCK, CHARS_TABLE, END_MARK, SEARCH_TABLE

WORDS = ["alpha", "beta", "gamma", "delta", "zq", "qz", "x", "~"]


def bodies(count: int) -> list[dict[str, Any]]:
    """Varied events; every 7th has a bare number as payload and no metadata, so its
    searched text ends with the digits (the case a trigram cannot start without the end mark)."""
    out: list[dict[str, Any]] = []
    for i in range(count):
        if i % 7 == 3:
            out.append({"type": "n/plain", "payload": 10 + i % 13})
            continue
        body: dict[str, Any] = {
            "type": "t/" + WORDS[i % 5],
            "payload": {"text": " ".join(WORDS[(i * k) % len(WORDS)] for k in (1, 3))},
        }
        if i % 11 == 0:
            body["metadata"] = {"m": WORDS[i % len(WORDS)].upper()}
        out.append(body)
    return out


def deny_event_bodies(conn: apsw.Connection) -> None:
    """Refuse any read of an event's body on this connection: a scan would fail."""

    def authorize(code: int, table: str | None, column: str | None, *_: object) -> int:
        if code == apsw.SQLITE_READ and table == "events" and column == "raw_jsonb":
            return apsw.SQLITE_DENY
        return apsw.SQLITE_OK

    conn.authorizer = authorize


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    path = tmp_path_factory.mktemp("short") / "m.sqlite3"
    made = bodies(3 * CHAR_BLOCK + 100)
    write_mirror(path, made).close()
    return path, committed(made)


@pytest.mark.parametrize("text", ["zq", "1", "12", "2", "~", "x", "Z", '"', "a", '"}', "q\\"])
@pytest.mark.parametrize("indexed", [0, CHAR_BLOCK - 1, CHAR_BLOCK, 2 * CHAR_BLOCK + 17, None])
def test_short_texts_count_and_position_like_a_brute_force_scan(
    mirror: tuple[Path, list[dict[str, Any]]], tmp_path: Path, text: str, indexed: int | None
) -> None:
    source, events = mirror
    path = tmp_path / "m.sqlite3"
    path.write_bytes(source.read_bytes())
    db = write_mirror(path, [])
    indexer = SearchIndexer(db)
    target = len(events) if indexed is None else indexed
    while indexer.progress().indexed_through < target:
        indexer.index_next(min(700, target - indexer.progress().indexed_through))
    reads = SearchReads.open(path)
    try:
        query = SearchQuery.build(text)
        expected = brute_force(events, text)
        assert reads.count(query).n == len(expected)
        for k in {1, len(expected) // 2, len(expected)} - {0} if expected else ():
            assert reads.position(query, expected[k - 1]) == k
        page = reads.hits(query, 0, 20, max_scan=len(events))
        assert page.offsets == expected[:20]
    finally:
        reads.close()
        db.close()


def test_a_two_character_text_at_the_very_end_is_found_by_the_index(tmp_path: Path) -> None:
    made = [{"type": "n/plain", "payload": 4712}, {"type": "n/plain", "payload": 12}]
    db = write_mirror(tmp_path / "m.sqlite3", made)
    SearchIndexer(db).build()
    reads = SearchReads.open(db.path)
    try:
        deny_event_bodies(reads._conn)
        assert reads.hits(SearchQuery.build("12"), 0, 10).offsets == [1, 2]
        assert reads.count(SearchQuery.build("12")).n == 2
        assert reads.count(SearchQuery.build("71")).n == 1
        assert reads.count(SearchQuery.build("21")).n == 0
    finally:
        reads.close()
        db.close()


def test_counts_of_short_texts_come_from_the_index_once_it_covers_whole_blocks(
    tmp_path: Path,
) -> None:
    # A mirror of exactly two blocks, fully indexed: nothing is left to scan.
    made = bodies(2 * CHAR_BLOCK)
    db = write_mirror(tmp_path / "m.sqlite3", made)
    SearchIndexer(db).build()
    reads = SearchReads.open(db.path)
    try:
        deny_event_bodies(reads._conn)
        for text in ("x", "~", "zq", "12", "a"):
            assert reads.count(SearchQuery.build(text)).n == len(brute_force(committed(made), text))
        with pytest.raises(apsw.AuthError):
            reads.count(SearchQuery.build("x", types=["t/beta"]))
    finally:
        reads.close()
        db.close()


def test_the_end_mark_is_never_searched_for(tmp_path: Path) -> None:
    db = write_mirror(tmp_path / "m.sqlite3", [{"type": "t", "payload": "ab"}])
    SearchIndexer(db).build()
    reads = SearchReads.open(db.path)
    try:
        assert SearchQuery.build("b" + END_MARK).text == "b"
        assert reads.count(SearchQuery.build('b"' + END_MARK)).n == 1
        assert SearchQuery.build(END_MARK).text == ""
    finally:
        reads.close()
        db.close()


def test_an_index_without_character_counts_is_not_trusted_and_is_rebuilt(tmp_path: Path) -> None:
    made = bodies(50)
    db = write_mirror(tmp_path / "m.sqlite3", made)
    indexer = SearchIndexer(db)
    indexer.build()
    # What an index built before the character counts looks like: the FTS table only.
    db.connection.execute(f"DROP TABLE {CHARS_TABLE}")
    reads = SearchReads.open(db.path)
    try:
        assert reads.indexed_through() == 0
        query = SearchQuery.build("x")
        assert reads.count(query).n == len(brute_force(committed(made), "x"))
        assert indexer.index_next(10).indexed_through == 10
        tables = db.connection.execute(
            "SELECT count(*) FROM sqlite_schema WHERE name IN (?, ?)", (SEARCH_TABLE, CHARS_TABLE)
        ).fetchall()
        assert tables[0][0] == 2
        indexer.build()
        assert reads.indexed_through() == 50
        assert reads.count(query).n == len(brute_force(committed(made), "x"))
    finally:
        reads.close()
        db.close()
