"""``MirrorWatcher``: THE watch of one mirror file: its identity, its changes, its live queries.

Public API:

- ``MirrorWatcher(path, *, loop, poll_interval, coalesce_interval, on_change, on_damage=None)``:
  one per runtime (so one per mirror file in a process), on ``loop``.
  - ``start()``: look at the file now, then every ``poll_interval`` (again: just look now);
    ``close()``.
  - ``on_change(MirrorChange)`` (``mirror.mirror_change``; on the loop): the count, last offset
    and incarnation whenever one of them moved, or the file was cleared or replaced; at most
    once per ``coalesce_interval`` (~16 ms), never for a commit that moved nothing a view shows.
  - ``signal()``: thread-safe "this process committed" (wired to the writer's commits), so an
    own commit is read at the next tick instead of the next poll.
  - ``recheck()``: look at the file now (the writer in this process opened or replaced it);
    ``reopen()``: a fresh connection even to the same file (the writer rebuilt its schema).
  - ``current_identity() -> FileIdentity | None`` (any thread): the file the watcher last saw
    at the path; while it is not started (or after ``close()``) it looks itself.
  - ``watch(sql, params, callback) -> unwatch``: ``callback(rows)`` (on the loop) with the
    query's rows once it has run and whenever they change; re-run only on a published change.
    A watch made before the file exists starts once it appears; it survives replacement.
  - ``queries``: the ``mirror.live_query.LiveQueries`` behind ``watch``; ``last_change``;
    ``is_watching`` (started and not closed); ``coalescer`` (its ``mirror.coalescer.Coalescer``).
  - ``on_damage(message)`` (on the loop): a read found the file damaged.

What it does, in one place: one read connection (``mirror.db_reads.MirrorReader``, used on the
loop thread only), one ``os.stat`` per poll (a new inode at the path means the file was archived,
quarantined or rebuilt: the connection is reopened and the change says ``replaced``), one
``PRAGMA data_version`` per poll (commits of other connections and processes), one coalescer.
A tick reads
the counts and the incarnation in one statement, publishes the change, then re-runs the live
queries the change made stale (and runs new ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw

from mirror.coalescer import Coalescer
from mirror.db_reads import MirrorReader, is_no_such_table
from mirror.integrity import is_damage
from mirror.live_query import LiveQueries, LiveQuery
from mirror.mirror_change import FileIdentity, MirrorChange, next_change
from mirror.schema import INCARNATION_KEY

log = logging.getLogger(__name__)

RowsCallback = Callable[[list[tuple[Any, ...]]], None]

# One statement, so the count and the incarnation always come from the same snapshot.
COUNTS_SQL = (
    "SELECT (SELECT max(local_index) + 1 FROM events), "
    f"(SELECT value FROM mirror_meta WHERE key = '{INCARNATION_KEY}')"
)


def stat_identity(path: Path) -> FileIdentity | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)


def read_counts(connection: apsw.Connection) -> tuple[int, str | None]:
    try:
        rows = connection.execute(COUNTS_SQL).fetchall()
    except apsw.SQLError as error:
        if is_no_such_table(error):  # the writer has not created the schema yet
            return 0, None
        raise
    count, incarnation = rows[0] if rows else (None, None)
    return int(count or 0), None if incarnation is None else str(incarnation)


class MirrorWatcher:
    def __init__(
        self,
        path: Path,
        *,
        loop: asyncio.AbstractEventLoop,
        poll_interval: float,
        coalesce_interval: float,
        on_change: Callable[[MirrorChange], None],
        on_damage: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self._loop = loop
        self.coalescer = Coalescer(loop, coalesce_interval, self._tick)
        self._poll_interval = poll_interval
        self._on_change = on_change
        self._on_damage = on_damage
        self.queries = LiveQueries(loop, self.coalescer.request)
        self._identity: FileIdentity | None = None  # last seen at the path
        self._opened: FileIdentity | None = None  # the file the connection is open on
        self._reader: MirrorReader | None = None
        self._seen_version: int | None = None
        self.last_change: MirrorChange | None = None
        # Something to read at the next tick: data moved, or the file was replaced.
        self._moved = False
        self._replaced = False
        self._poll: asyncio.Task[None] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"MirrorWatcher({str(self.path)!r})"

    @property
    def is_watching(self) -> bool:
        return self._poll is not None and not self._closed

    def current_identity(self) -> FileIdentity | None:
        if not self.is_watching:
            return stat_identity(self.path)
        return self._identity

    def start(self) -> None:
        if self._closed:
            return
        if self._poll is None:
            name = f"watch {self.path.name}"
            self._poll = self._loop.create_task(self._poll_forever(), name=name)
        self.recheck()

    def signal(self) -> None:
        if self._closed:
            return
        # A closed loop raises RuntimeError: nobody is watching any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._data_moved)

    def recheck(self) -> None:
        if self._closed:
            return
        identity = stat_identity(self.path)
        self._identity = identity
        if identity != self._opened or (identity is not None and self._reader is None):
            self._switch(identity, replaced=self._opened is not None)
            return
        if self._reader is not None:
            try:
                version = self._reader.data_version()
            except apsw.Error as error:
                log.debug("%s: reading data_version failed: %s", self, error)
                return
            if version != self._seen_version:
                self._moved = True
        if self._moved or self._replaced:
            self.coalescer.request()

    def reopen(self) -> None:
        if self._closed:
            return
        identity = stat_identity(self.path)
        self._identity = identity
        self._switch(identity, replaced=self._opened is not None and identity != self._opened)

    def watch(
        self, sql: str, params: tuple[Any, ...], callback: RowsCallback
    ) -> Callable[[], None]:
        def deliver(query: LiveQuery) -> None:
            if query.status == "ok":
                callback(list(query.rows))
            elif query.status == "error":
                log.warning("live query failed: %s (%s)", query.error, sql)
                if query.error is not None and is_damage(query.error):
                    self._report_damage(query.error)

        return self.queries.query(sql, params).subscribe(deliver)

    def close(self) -> None:
        self._closed = True
        if self._poll is not None:
            self._poll.cancel()
        self.coalescer.close()
        self.queries.close()
        self._close_reader()

    # -- machinery ------------------------------------------------------------------------------

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval)
            self.recheck()

    def _data_moved(self) -> None:
        if not self._closed:
            self._moved = True
            self.coalescer.request()

    def _switch(self, identity: FileIdentity | None, *, replaced: bool) -> None:
        self._close_reader()
        self._replaced = self._replaced or replaced
        self._moved = True
        if identity is not None:
            try:
                self._reader = MirrorReader(self.path)
            except apsw.Error as error:
                log.debug("%s: cannot open the file yet: %s", self, error)
            else:
                self._opened = identity
        self.coalescer.request()

    def _close_reader(self) -> None:
        reader, self._reader, self._opened = self._reader, None, None
        self._seen_version = None
        if reader is not None:
            try:
                reader.close()
            except apsw.Error:
                log.debug("%s: closing the reader failed", self, exc_info=True)

    def _tick(self) -> bool:
        """Read what moved, publish it, run the stale queries; True when it did any of it."""
        if self._closed or not (self._moved or self._replaced or self.queries.has_pending):
            return False
        reader = self._reader
        published = False
        if self._moved or self._replaced:
            count, incarnation = 0, None
            if reader is not None:
                try:
                    version = reader.data_version()
                    count, incarnation = read_counts(reader.connection)
                except apsw.Error as error:
                    if is_damage(error):
                        self._moved = False  # read again on the next signal, not every poll
                        self._report_damage(error)
                    else:
                        log.debug("%s: reading the counts failed: %s", self, error)
                    return False
                self._seen_version = version
            change = next_change(
                self.last_change,
                count=count,
                incarnation=incarnation,
                exists=reader is not None,
                replaced=self._replaced,
            )
            self._moved = self._replaced = False
            if change is not None:
                self.last_change = change
                self.queries.mark_all_dirty()
                self._on_change(change)
                published = True
        # on_change may have replaced the connection; the new one runs them at its own tick.
        if reader is not None and reader is self._reader and self.queries.has_pending:
            self.queries.run(reader.connection)
            return True
        return published

    def _report_damage(self, error: BaseException) -> None:
        log.warning("%s: the mirror file is damaged: %s", self, error)
        if self._on_damage is not None:
            self._on_damage(str(error))
