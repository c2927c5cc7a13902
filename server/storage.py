"""SQLite storage of one stream (one file per stream, WAL, apsw).

Tables (reference §9):
- `events`: one row per committed event with its type, createdAt and idempotency key; `body`
  holds the committed event's JSON bytes when they fit one chunk, else NULL;
- `event_chunks`: the JSON bytes of an event larger than `CHUNK_SIZE`, split in order, so no
  SQLite value is huge;
- `kv`: the core state snapshot and its version.

Each `append` is one transaction: events, chunks and the new state snapshot commit together.
"""

import contextlib
import hashlib
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final, NamedTuple, cast

import apsw

logger = logging.getLogger(__name__)

CHUNK_SIZE: Final = 512 * 1024
SCHEMA_VERSION: Final = 1

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS events (
    "offset" INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    created_at TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    body BLOB
);
CREATE TABLE IF NOT EXISTS event_chunks (
    "offset" INTEGER NOT NULL REFERENCES events("offset") ON DELETE CASCADE,
    chunk_index INTEGER NOT NULL,
    chunk_bytes BLOB NOT NULL,
    PRIMARY KEY ("offset", chunk_index)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
"""

_STATE_KEY: Final = "state"
_STATE_VERSION_KEY: Final = "stateVersion"
_IDENTITY_KEY: Final = "identity"


class EventRow(NamedTuple):
    """One committed event as storage writes it."""

    offset: int
    type: str
    created_at: str
    idempotency_key: str | None
    data: bytes


class StateSnapshot(NamedTuple):
    data: bytes
    version: int


def stream_file(data_dir: Path, namespace: str, path: str) -> Path:
    """The SQLite file of one stream: a readable hint plus a digest of (namespace, path)."""
    digest = hashlib.sha256(f"{namespace}\0{path}".encode()).hexdigest()[:20]
    last_segment = path.rstrip("/").rsplit("/", 1)[-1] or "root"
    return data_dir / "streams" / f"{_slug(namespace)}--{_slug(last_segment)}--{digest}.sqlite3"


class StreamStorage:
    """The durable log and snapshot of one stream. Not thread-safe: one owner (the engine)."""

    def __init__(self, file: Path, namespace: str, path: str) -> None:
        self.file = file
        file.parent.mkdir(parents=True, exist_ok=True)
        self._db = apsw.Connection(str(file))
        self._db.setbusytimeout(5000)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit survives a process crash; only power loss can drop the tail.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._db:
            self._db.execute(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            identity = f"{namespace}\0{path}".encode()
            stored = self._kv(_IDENTITY_KEY)
            if stored is None:
                self._put_kv(_IDENTITY_KEY, identity)
            elif stored != identity:
                raise RuntimeError(f"{file} belongs to another stream")

    # --- writes --------------------------------------------------------------------------

    def append(self, rows: Sequence[EventRow], state: bytes, state_version: int) -> None:
        """Commit events and the state after them in one transaction."""
        inline: list[tuple[int, str, str, str | None, bytes | None]] = []
        chunks: list[tuple[int, int, bytes]] = []
        for row in rows:
            if len(row.data) <= CHUNK_SIZE:
                inline.append(row)
                continue
            inline.append((row.offset, row.type, row.created_at, row.idempotency_key, None))
            view = memoryview(row.data)
            chunks.extend(
                (row.offset, index, bytes(view[start : start + CHUNK_SIZE]))
                for index, start in enumerate(range(0, len(row.data), CHUNK_SIZE))
            )
        with self._db:
            self._db.executemany(
                'INSERT INTO events ("offset", type, created_at, idempotency_key, body) '
                "VALUES (?, ?, ?, ?, ?)",
                inline,
            )
            if chunks:
                self._db.executemany(
                    'INSERT INTO event_chunks ("offset", chunk_index, chunk_bytes) '
                    "VALUES (?, ?, ?)",
                    chunks,
                )
            self._write_state(state, state_version)

    def write_state(self, state: bytes, state_version: int) -> None:
        with self._db:
            self._write_state(state, state_version)

    def _write_state(self, state: bytes, state_version: int) -> None:
        self._put_kv(_STATE_KEY, state)
        self._put_kv(_STATE_VERSION_KEY, str(state_version).encode())

    # --- reads ---------------------------------------------------------------------------

    def read_state(self) -> StateSnapshot | None:
        data = self._kv(_STATE_KEY)
        version = self._kv(_STATE_VERSION_KEY)
        if data is None or version is None:
            return None
        try:
            return StateSnapshot(data, int(version))
        except ValueError:
            return None

    def max_offset(self) -> int:
        value: int | None = self._scalar('SELECT max("offset") FROM events', ())
        return value or 0

    def get_by_key(self, idempotency_key: str) -> bytes | None:
        rows = self._rows(
            'SELECT "offset", body FROM events WHERE idempotency_key = ?', (idempotency_key,)
        )
        return self._bodies(rows)[0] if rows else None

    def range(self, after_offset: int, before_offset: int | None, limit: int | None) -> list[bytes]:
        """Event bytes with `after_offset < offset < before_offset`, ascending, at most `limit`."""
        rows = self._rows(
            'SELECT "offset", body FROM events WHERE "offset" > ? AND "offset" < ? '
            'ORDER BY "offset" LIMIT ?',
            (
                after_offset,
                before_offset if before_offset is not None else _MAX_INT64,
                limit if limit is not None else -1,
            ),
        )
        return self._bodies(rows)

    def _rows(self, sql: str, params: tuple[object, ...]) -> list[tuple[int, bytes | None]]:
        return cast(list[tuple[int, bytes | None]], self._db.execute(sql, params).fetchall())

    def _scalar(self, sql: str, params: tuple[object, ...]) -> Any:
        row = self._db.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def _bodies(self, rows: list[tuple[int, bytes | None]]) -> list[bytes]:
        return [body if body is not None else self._joined_chunks(off) for off, body in rows]

    def iter_after(self, after_offset: int, page_size: int = 1000) -> Iterator[bytes]:
        """Every event after `after_offset`, in pages (used to rebuild the state)."""
        cursor = after_offset
        while True:
            page = self.range(cursor, None, page_size)
            if not page:
                return
            yield from page
            cursor += len(page)

    def chunk_count(self, offset: int) -> int:
        value: int = self._scalar('SELECT count(*) FROM event_chunks WHERE "offset" = ?', (offset,))
        return value

    def _joined_chunks(self, offset: int) -> bytes:
        return b"".join(
            chunk
            for (chunk,) in self._db.execute(
                'SELECT chunk_bytes FROM event_chunks WHERE "offset" = ? ORDER BY chunk_index',
                (offset,),
            )
        )

    # --- kv ------------------------------------------------------------------------------

    def _kv(self, key: str) -> bytes | None:
        value = self._scalar("SELECT value FROM kv WHERE key = ?", (key,))
        return None if value is None else bytes(value)

    def _put_kv(self, key: str, value: bytes) -> None:
        self._db.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, value))

    # --- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        self._db.close()


def delete_stream_files(file: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{file}{suffix}")


_MAX_INT64: Final = 2**63 - 1


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "x"
