"""``ScanPool``: extra read connections that count parts of a mirror beside the caller's own.

Public API:

- ``ScanPool.open(path, size)``: ``size`` read-only connections to the mirror at ``path`` and a
  thread each. ``size`` 0 is a pool that runs nothing (every part falls back to the caller).
- ``submit(parts, incarnation) -> list[Future[int | None]]``: ``parts[i](conn)`` on connection
  ``i`` (at most ``size`` parts), each in its own read snapshot, all at once, while the caller
  counts its own part. None for a part that was not answered there (its snapshot holds another
  incarnation, the part itself said None, or the read failed): the caller then answers it on
  its own connection.
- ``interrupt()``: the running parts raise ``apsw.InterruptError`` (from any thread).
- ``close()``.
- ``scan_threads() -> int``: the default size: one per spare core, at most 3.

Why it is safe to add up counts from several snapshots: the caller fixes the range to count
in its own snapshot, and rows below a mirror's end never change within an incarnation (the
mirror only appends; a reset or a heal moves the file aside, so a connection opened on the old
file keeps reading the old rows). Each part checks the incarnation in its snapshot, so a
connection that sees another incarnation answers nothing. SQLite releases the GIL while it
steps, so the parts run on as many cores as there are connections.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import apsw

from mirror.schema import INCARNATION_KEY

log = logging.getLogger(__name__)

READ_BUSY_TIMEOUT_MS = 1000
MAX_SCAN_THREADS = 3

Part = Callable[[apsw.Connection], int | None]


def scan_threads() -> int:
    return max(0, min(MAX_SCAN_THREADS, (os.cpu_count() or 1) - 1))


def open_read_connection(path: Path | str) -> apsw.Connection:
    """A read connection to an existing mirror: never creates a file, never writes."""
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READWRITE)
    conn.set_busy_timeout(READ_BUSY_TIMEOUT_MS)
    conn.execute("PRAGMA query_only = 1")
    return conn


def incarnation_in(conn: apsw.Connection) -> str | None:
    rows = conn.execute(
        "SELECT value FROM mirror_meta WHERE key = ?", (INCARNATION_KEY,)
    ).fetchall()
    return None if not rows else str(rows[0][0])


class ScanPool:
    def __init__(self, conns: Sequence[apsw.Connection]) -> None:
        self._conns = list(conns)
        self._executor = (
            ThreadPoolExecutor(len(self._conns), thread_name_prefix="scan") if self._conns else None
        )

    @classmethod
    def open(cls, path: Path | str, size: int) -> ScanPool:
        conns: list[apsw.Connection] = []
        try:
            for _ in range(size):
                conns.append(open_read_connection(path))
        except BaseException:
            for conn in conns:
                conn.close()
            raise
        return cls(conns)

    @property
    def size(self) -> int:
        return len(self._conns)

    def submit(self, parts: Sequence[Part], incarnation: str | None) -> list[Future[int | None]]:
        if len(parts) > len(self._conns):
            raise ValueError(f"{len(parts)} parts for a pool of {len(self._conns)}")
        executor = self._executor
        if executor is None:
            return []
        return [
            executor.submit(_answer, conn, part, incarnation)
            for conn, part in zip(self._conns, parts, strict=False)
        ]

    def interrupt(self) -> None:
        for conn in self._conns:
            conn.interrupt()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        for conn in self._conns:
            conn.close()


def _answer(conn: apsw.Connection, part: Part, incarnation: str | None) -> int | None:
    try:
        conn.execute("BEGIN")
        try:
            if incarnation_in(conn) != incarnation:
                return None
            return part(conn)
        finally:
            conn.execute("COMMIT")
    except apsw.InterruptError:
        raise
    except apsw.Error as error:
        # The caller answers this part itself, in its own snapshot.
        log.debug("a scan part failed on a pool connection: %s", error)
        return None
