"""Helpers for the fault tests: a snapshot of the mirror after every commit, the server's whole
log per incarnation, the check that no snapshot ever mixed incarnations, and page damage."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import apsw
import orjson

from mirror.verify import first_difference
from wire.stream_client import StreamClient

Event = dict[str, Any]


class CommitSnapshots:
    """After every COMMIT of any writer connection to ``path`` in this process (seen through
    SQLite's statement trace, so nothing in the code under test is changed), read the mirror at
    ``path`` on a connection of its own: ``(incarnation, events in offset order)``. The trace
    runs on the committing thread right after COMMIT, before that thread can commit again."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.snapshots: list[tuple[str | None, list[Event]]] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def __enter__(self) -> CommitSnapshots:
        apsw.connection_hooks.append(self._on_connection)
        return self

    def __exit__(self, *exc: object) -> None:
        apsw.connection_hooks.remove(self._on_connection)

    def _on_connection(self, conn: apsw.Connection) -> None:
        if conn.filename == self.path and not conn.open_flags & apsw.SQLITE_OPEN_READONLY:
            conn.trace_v2(apsw.SQLITE_TRACE_PROFILE, self._on_statement, id=self)

    def _on_statement(self, event: dict[str, Any]) -> None:
        if str(event.get("sql", "")).strip().upper() != "COMMIT":
            return
        try:
            snapshot = read_mirror(Path(self.path))
        except apsw.Error as error:
            self.errors.append(f"snapshot failed: {error}")
            return
        with self._lock:
            self.snapshots.append(snapshot)


def read_mirror(path: Path) -> tuple[str | None, list[Event]]:
    """(recorded incarnation, every event) of a mirror file, in one read transaction."""
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        conn.set_busy_timeout(5000)
        conn.execute("BEGIN")
        meta = conn.execute("SELECT value FROM mirror_meta WHERE key = 'incarnation'").fetchall()
        rows = conn.execute("SELECT json(raw_jsonb) FROM events ORDER BY local_index").fetchall()
        conn.execute("COMMIT")
    finally:
        conn.close()
    return (str(meta[0][0]) if meta else None), [orjson.loads(str(text)) for (text,) in rows]


async def server_log(client: StreamClient, page: int = 5000) -> list[Event]:
    """The stream's whole log now."""
    events: list[Event] = []
    while True:
        chunk = await client.get_events(after_offset=len(events), limit=page)
        events.extend(chunk)
        if len(chunk) < page:
            return events


def assert_never_mixed(
    snapshots: list[tuple[str | None, list[Event]]], logs: list[list[Event]]
) -> int:
    """Every snapshot holds a prefix of exactly one incarnation's log, the one its
    ``mirror_meta`` names (no loss, duplicate, gap or change); returns the events checked."""
    by_incarnation = {str(log[0]["createdAt"]): log for log in logs if log}
    checked = 0
    for number, (incarnation, events) in enumerate(snapshots, 1):
        if not events:
            continue
        assert incarnation in by_incarnation, (
            f"commit {number}: {len(events)} rows under incarnation {incarnation}, which is "
            f"none of {sorted(by_incarnation)}"
        )
        log = by_incarnation[incarnation]
        problem = first_difference(events, log[: len(events)])
        assert problem is None, f"commit {number} (incarnation {incarnation}): {problem}"
        checked += len(events)
    return checked


def page_of(path: Path, name: str, middle: bool = True) -> int:
    """A b-tree page of table or index ``name`` (a leaf from the middle of it)."""
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        pages = [
            int(str(page))
            for (page,) in conn.execute(
                "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno",
                (name,),
            ).fetchall()
        ]
        size = int(str(conn.execute("PRAGMA page_size").fetchall()[0][0]))
    finally:
        conn.close()
    assert len(pages) >= 3, f"{name} has only {len(pages)} leaf pages"
    page = pages[len(pages) // 2] if middle else pages[-1]
    return (page - 1) * size


def write_garbage(path: Path, offset: int, length: int = 4096, seed: int = 7) -> None:
    """Random bytes over ``length`` bytes of a real file at ``offset``, synced to disk."""
    garbage = bytes((seed * 131 + i * 29 + (i >> 3) * 17) % 256 for i in range(length))
    with open(path, "r+b") as file:
        file.seek(offset)
        file.write(garbage)
        file.flush()
        os.fsync(file.fileno())
