"""The mirror database: one SQLite file (apsw, WAL) per stream, one writer, many readers.

Public API:

- ``MirrorDb.open(path) -> MirrorDb``: the writer connection. Creates the directory, moves an
  unreadable file aside (``quarantine_file``) and starts fresh, and ensures the schema (a version
  in ``schema.MIGRATIONS`` is brought up to date in place, rows kept; any other
  ``PRAGMA user_version`` mismatch clears every checkpoint in its own commit first, then drops and
  recreates every table in one transaction, so a stale cursor never sits over an empty table).
  Attributes ``path``, ``schema_reset`` (the schema was rebuilt on open) and ``quarantined_to``
  (where an unreadable file was moved, or None).
  All methods are blocking and thread-safe (one internal lock); the async runtime calls them
  through ``asyncio.to_thread`` so its event loop never waits on SQLite. WAL checkpoints run
  in a thread of their own (``mirror.wal_checkpointer``), not inside the writer's commits.
  - ``transaction()``: context manager, ``BEGIN IMMEDIATE`` ... ``COMMIT``, yielding the apsw
    connection; a failed ROLLBACK is logged and never hides the original error. Re-entrant (an
    inner call joins the outer transaction). Commit listeners run after each commit.
  - ``write_checkpoint(slug, subscription_key, state, offset)``, ``delete_checkpoints(slug,
    subscription_key=None)``, ``set_incarnation(created_at)``, ``discard()`` (events, feed rows,
    type counts, every checkpoint, the incarnation and the search index, in one transaction,
    then VACUUM),
    ``add_commit_listener(callback) -> remove``, ``open_reader() -> MirrorReader``, ``close()``.
- Reads (``MirrorReads``, shared with ``MirrorReader``), ``MirrorReader``, ``EventRow`` and
  ``FeedRow`` live in ``mirror.db_reads`` and are re-exported here.
- ``quarantine_file(path) -> Path``: rename a file (and its -wal/-shm) to
  ``<name>.corrupt-<UTC timestamp>``; never deletes anything.
- ``encode_json(value) -> bytes``: the one JSON encoder for rows and checkpoints (orjson; bytes
  become base64 strings, values JSON cannot hold become null).
- ``MirrorCorruptError``: raised when a file is still unusable after being moved aside.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import apsw
import orjson

from mirror.db_reads import EventRow, FeedRow, MirrorReader, MirrorReads
from mirror.schema import (
    CREATE_STATEMENTS,
    DROP_STATEMENTS,
    INCARNATION_KEY,
    MIGRATIONS,
    SCHEMA_VERSION,
    SCHEMA_VERSION_KEY,
)
from mirror.search.store import clear_search_index
from mirror.wal_checkpointer import WalCheckpointer

__all__ = [
    "EventRow",
    "FeedRow",
    "MirrorCorruptError",
    "MirrorDb",
    "MirrorReader",
    "MirrorReads",
    "encode_json",
    "quarantine_file",
]

log = logging.getLogger(__name__)

WRITER_BUSY_TIMEOUT_MS = 5000
_OUR_OBJECTS = frozenset(
    {
        "events",
        "events_type_local_index",
        "events_before_update",
        "event_type_counts",
        "feed_items",
        "processor_state",
        "mirror_meta",
    }
)
# Errors that mean "this file is not a usable SQLite database".
_UNREADABLE_ERRORS: tuple[type[BaseException], ...] = (
    apsw.NotADBError,
    apsw.CorruptError,
    apsw.CantOpenError,
)


class MirrorCorruptError(Exception):
    """The mirror file cannot be used (raised only when moving it aside did not help)."""


def _json_default(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, set | frozenset):
        return list(value)
    # Like JSON.stringify for undefined and friends: no JSON form, so null.
    return None


def encode_json(value: object) -> bytes:
    """Serialize a JSON-like value (events, feed data, processor state) to UTF-8 JSON."""
    try:
        # Without OPT_NON_STR_KEYS orjson is about twice as fast, and wire values only ever
        # have string keys; the option changes nothing for them.
        return orjson.dumps(value, default=_json_default)
    except TypeError:
        return orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS)


def quarantine_file(path: Path) -> Path:
    """Move ``path`` (and its -wal/-shm files) aside as ``<name>.corrupt-<timestamp>``."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    counter = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
        counter += 1
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        sidecar = path.with_name(path.name + suffix)
        if sidecar.exists():
            os.replace(sidecar, target.with_name(target.name + suffix))
    return target


class MirrorDb(MirrorReads):
    """The writer connection of one mirror file. Open with ``MirrorDb.open(path)``."""

    def __init__(self, path: Path, conn: apsw.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []
        self.schema_reset = False
        self.quarantined_to: Path | None = None
        self._checkpointer: WalCheckpointer | None = None

    @classmethod
    def open(cls, path: Path | str) -> MirrorDb:
        """Open (or create) the mirror at ``path``; an unreadable file is moved aside first."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return cls._open_checked(path)
        except _UNREADABLE_ERRORS as error:
            if not path.exists():
                raise
            moved = quarantine_file(path)
            log.warning("mirror file %s is unreadable (%s); moved it to %s", path, error, moved)
        try:
            db = cls._open_checked(path)
        except _UNREADABLE_ERRORS as error:
            raise MirrorCorruptError(f"cannot create a fresh mirror at {path}: {error}") from error
        db.quarantined_to = moved
        return db

    @classmethod
    def _open_checked(cls, path: Path) -> MirrorDb:
        if path.is_dir():
            raise apsw.CantOpenError(f"{path} is a directory")
        conn = apsw.Connection(str(path))
        db = cls(path, conn)
        try:
            conn.set_busy_timeout(WRITER_BUSY_TIMEOUT_MS)
            conn.execute(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
                "PRAGMA temp_store = MEMORY; PRAGMA journal_size_limit = 67108864"
            )
            db._check_size()
            db._ensure_schema()
            db._probe()
        except BaseException:
            conn.close()
            raise
        db._checkpointer = WalCheckpointer.attach(conn, path)
        return db

    # -- opening ------------------------------------------------------------------------------

    def _check_size(self) -> None:
        """A file shorter than its header's page count was truncated."""
        wal = self.path.with_name(self.path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            return  # committed pages may live in the WAL; the header is not the whole truth
        page_size = int(self._scalar("PRAGMA page_size", default=4096))
        page_count = int(self._scalar("PRAGMA page_count", default=0))
        if self.path.stat().st_size < page_size * page_count:
            raise apsw.CorruptError(
                f"file holds {self.path.stat().st_size} bytes, header says {page_count} pages"
            )

    def _probe(self) -> None:
        """Touch the last pages of every table: cheap, and where a truncation shows."""
        for sql in (
            "SELECT max(local_index) FROM events",
            "SELECT max(local_index) FROM feed_items",
            "SELECT count(*) FROM processor_state",
            "SELECT count(*) FROM mirror_meta",
            "SELECT count(*) FROM event_type_counts",
        ):
            self._conn.execute(sql).fetchall()

    def _existing_objects(self) -> set[str]:
        rows = self._conn.execute("SELECT name FROM sqlite_schema").fetchall()
        return {str(name) for (name,) in rows} & _OUR_OBJECTS

    def _ensure_schema(self) -> None:
        version = self.user_version()
        existing = self._existing_objects()
        if version == SCHEMA_VERSION and existing == _OUR_OBJECTS:
            return
        if version == SCHEMA_VERSION or (version == 0 and not existing):
            with self.transaction() as conn:
                self._create_schema(conn)
            return
        if version in MIGRATIONS and existing == _OUR_OBJECTS:
            with self.transaction() as conn:
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                self._create_schema(conn)
            log.info("mirror %s: schema %s -> %s in place", self.path, version, SCHEMA_VERSION)
            return
        log.warning(
            "mirror %s has schema version %s, expected %s: clearing and rebuilding",
            self.path,
            version,
            SCHEMA_VERSION,
        )
        if "processor_state" in existing:
            # Committed on its own and first: a crash before the rebuild re-runs it, and a stale
            # checkpoint can never survive over dropped rows.
            with self.transaction() as conn:
                conn.execute("DELETE FROM processor_state")
        with self.transaction() as conn:
            for statement in DROP_STATEMENTS:
                conn.execute(statement)
            self._create_schema(conn)
        self.schema_reset = True

    @staticmethod
    def _create_schema(conn: apsw.Connection) -> None:
        for statement in CREATE_STATEMENTS:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute(
            "INSERT INTO mirror_meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (SCHEMA_VERSION_KEY, str(SCHEMA_VERSION)),
        )

    # -- plumbing -------------------------------------------------------------------------------

    @property
    def connection(self) -> apsw.Connection:
        """The writer connection; use it only inside ``transaction()``."""
        return self._conn

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[apsw.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; joins an already open transaction."""
        with self._lock:
            conn = self._conn
            if conn.in_transaction:
                yield conn
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
                if self._checkpointer is not None:
                    self._checkpointer.after_commit(conn)
            except BaseException:
                try:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                except apsw.Error:
                    log.exception("mirror rollback failed (the original error follows)")
                raise
        self._notify_commit()

    def add_commit_listener(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` (from the committing thread) after every commit."""
        self._listeners.append(callback)

        def remove() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return remove

    def _notify_commit(self) -> None:
        for callback in list(self._listeners):
            try:
                callback()
            except Exception:
                log.exception("mirror commit listener failed")

    def open_reader(self) -> MirrorReader:
        return MirrorReader(self.path)

    def close(self) -> None:
        with self._lock:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
            self._conn.close()

    # -- writes ---------------------------------------------------------------------------------

    def write_checkpoint(
        self, slug: str, subscription_key: str, state: object, offset: int
    ) -> None:
        """Upsert one processor checkpoint (inside the caller's transaction when one is open)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO processor_state "
                "(processor_slug, subscription_key, reduced_state, max_offset) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (processor_slug, subscription_key) DO UPDATE SET "
                "reduced_state = excluded.reduced_state, max_offset = excluded.max_offset, "
                "updated_at = excluded.updated_at",
                (slug, subscription_key, encode_json(state).decode("utf-8"), offset),
            )

    def delete_checkpoints(self, slug: str, subscription_key: str | None = None) -> None:
        """Delete one checkpoint, or every checkpoint of ``slug`` when no key is given."""
        with self.transaction() as conn:
            if subscription_key is None:
                conn.execute("DELETE FROM processor_state WHERE processor_slug = ?", (slug,))
            else:
                conn.execute(
                    "DELETE FROM processor_state WHERE processor_slug = ? AND subscription_key = ?",
                    (slug, subscription_key),
                )

    def set_incarnation(self, created_at: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO mirror_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (INCARNATION_KEY, created_at),
            )

    def discard(self) -> None:
        """Forget the mirrored stream: rows, counts, checkpoints and incarnation, atomically."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM events")
            conn.execute("DELETE FROM feed_items")
            conn.execute("DELETE FROM event_type_counts")
            conn.execute("DELETE FROM processor_state")
            conn.execute("DELETE FROM mirror_meta WHERE key = ?", (INCARNATION_KEY,))
            clear_search_index(conn)
        try:
            with self._lock:
                self._conn.execute("VACUUM")
        except apsw.Error:
            log.warning("VACUUM after discarding mirror %s failed", self.path, exc_info=True)
