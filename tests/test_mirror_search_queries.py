"""Search answers checked against a brute-force Python scan: hits (every page), counts and
"hit k of n", with the index built to any point (the rest answered by the tail scan), short
texts, type filters and field filters."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from search_support import Event, brute_force, committed, write_mirror

from mirror.search.indexer import SearchIndexer
from mirror.search.queries import SearchQuery, SearchReads

TYPES = ["a/x", "b/Y", "c/z"]
ALPHABET = "abAB c\"'%_"

event_bodies = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(TYPES),
            "payload": st.fixed_dictionaries(
                {"text": st.text(ALPHABET, max_size=12), "n": st.integers(0, 20)}
            ),
        },
        optional={"metadata": st.fixed_dictionaries({"m": st.text(ALPHABET, max_size=6)})},
    ),
    min_size=1,
    max_size=40,
)


def all_pages(
    reads: SearchReads, query: SearchQuery, limit: int, max_scan: int
) -> tuple[list[int], int]:
    """Every hit, page by page; also checks each page's order and bounds."""
    offsets: list[int] = []
    after, pages = 0, 0
    while True:
        page = reads.hits(query, after, limit, max_scan)
        assert len(page.offsets) <= limit
        assert all(o > after for o in page.offsets)
        assert page.offsets == sorted(page.offsets)
        offsets.extend(page.offsets)
        pages += 1
        assert pages < 500, "paging never ended"
        if page.exhausted:
            return offsets, page.indexed_through
        assert page.next_after > after
        after = page.next_after


def check(
    reads: SearchReads,
    events: list[Event],
    query: SearchQuery,
    expected: list[int],
    limit: int = 3,
    max_scan: int = 7,
) -> None:
    hits, _ = all_pages(reads, query, limit, max_scan)
    assert hits == expected
    assert reads.count(query).n == len(expected)
    for k, offset in enumerate(expected, start=1):
        assert reads.position(query, offset) == k
    misses = sorted({e["offset"] for e in events} - set(expected))
    for offset in misses[:5]:
        assert reads.position(query, offset) is None


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    bodies=event_bodies,
    text=st.text(ALPHABET, max_size=4),
    indexed_fraction=st.floats(0, 1),
    chunk=st.integers(1, 15),
    limit=st.integers(1, 6),
    max_scan=st.integers(1, 12),
    types=st.none() | st.lists(st.sampled_from(TYPES), max_size=2, unique=True),
)
def test_hits_count_and_position_match_a_brute_force_scan(
    bodies: list[dict[str, Any]],
    text: str,
    indexed_fraction: float,
    chunk: int,
    limit: int,
    max_scan: int,
    types: list[str] | None,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.sqlite3"
        db = write_mirror(path, bodies)
        indexer = SearchIndexer(db)
        target = int(len(bodies) * indexed_fraction)
        while indexer.progress().indexed_through < target:
            indexer.index_next(chunk)
        reads = SearchReads.open(path)
        try:
            events = committed(bodies)
            query = SearchQuery.build(text, types=types)
            check(reads, events, query, brute_force(events, text, types=types), limit, max_scan)
            assert reads.indexed_through() == indexer.progress().indexed_through
        finally:
            reads.close()
            db.close()


FILTER_BODIES: list[dict[str, Any]] = [
    {"type": "order/created", "payload": {"user": {"id": "u1"}, "total": 30}},
    {"type": "order/created", "payload": {"user": {"id": "U1"}, "total": 30.5}},
    {"type": "order/paid", "payload": {"user": {"id": "u2"}, "total": "30"}},
    {"type": "note", "payload": {"text": "Refund requested", "flag": True}},
    {"type": "note", "payload": {"text": "all good", "flag": False, "gone": None}},
    {"type": "note", "payload": {"items": [{"id": "a"}, {"id": "b"}], "weird key": 1}},
    {"type": "note", "payload": 7, "metadata": {"latencyMs": 800}},
    {"type": "note", "metadata": {"latencyMs": 120, "source": "ios"}},
]


def get(event: Event, *path: str | int) -> Any:
    """The value at ``path`` or ``MISSING``."""
    value: Any = event
    for key in path:
        if isinstance(key, int):
            if not isinstance(value, list) or key >= len(value):
                return MISSING
        elif not isinstance(value, dict) or key not in value:
            return MISSING
        value = value[key]
    return value


MISSING = object()


def number(value: Any) -> float:
    """A JSON number as a float; anything else as NaN, which compares false to everything."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return float("nan")


def text_of(value: Any) -> str:
    """What ``~`` searches: a string itself, anything else as compact JSON; lower-cased."""
    if value is MISSING:
        return ""
    return (value if isinstance(value, str) else orjson.dumps(value).decode()).lower()


FILTERS: list[tuple[str, Any]] = [
    ('payload.user.id = "u1"', lambda e: get(e, "payload", "user", "id") == "u1"),
    ('payload.user.id != "u1"', lambda e: get(e, "payload", "user", "id") != "u1"),
    ("payload.total = 30", lambda e: number(get(e, "payload", "total")) == 30),
    ("payload.total >= 30.5", lambda e: number(get(e, "payload", "total")) >= 30.5),
    ('payload.total < "4"', lambda e: get(e, "payload", "total") == "30"),
    ('payload.text ~ "REFUND"', lambda e: "refund" in text_of(get(e, "payload", "text"))),
    ("payload.total > 29", lambda e: number(get(e, "payload", "total")) > 29),
    ("payload.total <= 30", lambda e: number(get(e, "payload", "total")) <= 30),
    ("payload.total < 30.5", lambda e: number(get(e, "payload", "total")) < 30.5),
    ("payload.flag >= 0", lambda e: number(get(e, "payload", "flag")) >= 0),
    ("payload.flag = 1", lambda e: number(get(e, "payload", "flag")) == 1),
    ("payload.total > 4503599627370497", lambda e: False),
    ('payload.user = \'{"id":"u1"}\'', lambda e: False),
    (
        'payload.text >= "R"',
        lambda e: isinstance(get(e, "payload", "text"), str) and get(e, "payload", "text") >= "R",
    ),
    ('payload.total <= "4"', lambda e: get(e, "payload", "total") == "30"),
    ("payload.flag = true", lambda e: get(e, "payload", "flag") is True),
    ("payload.flag = false", lambda e: get(e, "payload", "flag") is False),
    ("payload.gone = null", lambda e: get(e, "payload", "gone") is None),
    ("exists payload.gone", lambda e: get(e, "payload", "gone") is not MISSING),
    ("not exists payload.user", lambda e: get(e, "payload", "user") is MISSING),
    ('payload.items[1].id = "b"', lambda e: get(e, "payload", "items", 1, "id") == "b"),
    ('payload."weird key" = 1', lambda e: get(e, "payload", "weird key") == 1),
    ("metadata.latencyMs > 500", lambda e: number(get(e, "metadata", "latencyMs")) > 500),
    (
        'type = "note" and (payload = 7 or metadata.source = "ios")',
        lambda e: (
            e["type"] == "note"
            and (get(e, "payload") == 7 or get(e, "metadata", "source") == "ios")
        ),
    ),
    (
        'type ~ "ORDER/" and not payload.user.id = "u2"',
        lambda e: e["type"].startswith("order/") and get(e, "payload", "user", "id") != "u2",
    ),
    ("offset >= 3 and offset < 6", lambda e: 3 <= e["offset"] < 6),
    ("offset = 2.0", lambda e: e["offset"] == 2),
    ('payload.user ~ \'"ID":"u\'', lambda e: '"id":"u' in text_of(get(e, "payload", "user"))),
]


def test_field_filters_match_their_stated_semantics(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    db = write_mirror(path, FILTER_BODIES)
    SearchIndexer(db).build()
    events = committed(FILTER_BODIES)
    reads = SearchReads.open(path)
    try:
        for expression, predicate in FILTERS:
            expected = brute_force(events, predicate=predicate)
            query = SearchQuery.build(where=expression)
            hits, _ = all_pages(reads, query, 2, 3)
            assert hits == expected, expression
            assert reads.count(query).n == len(expected), expression
            # Combined with an indexed text: the same rows, narrowed by the text.
            with_text = SearchQuery.build("note", where=expression)
            text_hits = brute_force(events, "note", predicate=predicate)
            assert all_pages(reads, with_text, 2, 3)[0] == text_hits, expression
            assert reads.count(with_text).n == len(text_hits), expression
    finally:
        reads.close()
        db.close()


def test_no_text_and_no_filter_counts_from_the_type_counts(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    db = write_mirror(path, FILTER_BODIES)
    reads = SearchReads.open(path)
    try:
        assert reads.count(SearchQuery.build()).n == len(FILTER_BODIES)
        assert reads.count(SearchQuery.build(types=["note", "order/paid"])).n == 6
        assert reads.count(SearchQuery.build(types=[])).n == 0
        assert reads.hits(SearchQuery.build(types=[])).offsets == []
    finally:
        reads.close()
        db.close()


def test_reads_on_the_writer_join_its_open_transaction(tmp_path: Path) -> None:
    db = write_mirror(tmp_path / "m.sqlite3", FILTER_BODIES)
    with db.transaction() as conn:
        SearchIndexer(db).index_next(5)
        reads = SearchReads(conn)
        assert reads.indexed_through() == 5
        assert reads.hits(SearchQuery.build("order/")).offsets == [1, 2, 3]
        assert conn.in_transaction
    db.close()
