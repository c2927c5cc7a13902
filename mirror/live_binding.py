"""``LiveBinding``: a runtime's live queries, kept alive across the mirror file coming and going.

Public API:

- ``LiveBinding(path, *, loop, poll_interval, coalesce_interval, on_damage=None)``
  (``on_damage(message)`` on the loop when a query finds the file damaged):
  - ``watch(sql, params, callback) -> unwatch``: ``callback(rows)`` (on the loop) with the
    query's rows, first when it has run and then whenever they change. Watching a mirror file
    that does not exist yet is fine: the query starts once the file appears.
  - ``ensure_open() -> bool``: open ``mirror.live_query.LiveQueries`` over the file if it exists
    (followers and offline runtimes call this while they wait for the file).
  - ``reopen()``: a fresh reader connection (the writer moved an unreadable file aside and
    created a new one); every watch is carried over. ``refresh() -> bool`` does that only when
    the file at ``path`` is no longer the one that was opened (True when it reopened).
  - ``notify_changed()``: thread-safe "the file changed" (wired to the writer's commits).
  - ``close()``.

The live-query layer (``mirror.live_query``) polls ``PRAGMA data_version``, so commits of any
process reach the watches; the writer in this process also signals its own commits directly.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw

from mirror.db import MirrorReader as DbReader
from mirror.integrity import is_damage
from mirror.live_query import LiveQueries, LiveQuery

log = logging.getLogger(__name__)

RowsCallback = Callable[[list[tuple[Any, ...]]], None]


class _Watch:
    def __init__(
        self,
        sql: str,
        params: tuple[Any, ...],
        callback: RowsCallback,
        on_damage: Callable[[str], None] | None,
    ) -> None:
        self.sql = sql
        self.params = params
        self.callback = callback
        self.on_damage = on_damage
        self.unsubscribe: Callable[[], None] | None = None

    def deliver(self, query: LiveQuery) -> None:
        if query.status == "ok":
            self.callback(list(query.rows))
        elif query.status == "error":
            log.warning("live query failed: %s (%s)", query.error, self.sql)
            if self.on_damage is not None and is_damage(query.error):
                self.on_damage(str(query.error))


class LiveBinding:
    def __init__(
        self,
        path: Path,
        *,
        loop: asyncio.AbstractEventLoop,
        poll_interval: float,
        coalesce_interval: float,
        on_damage: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self._on_damage = on_damage
        self._loop = loop
        self._poll_interval = poll_interval
        self._coalesce = coalesce_interval
        self._reader: DbReader | None = None
        self._queries: LiveQueries | None = None
        self._watches: list[_Watch] = []
        self._identity: tuple[int, int] | None = None
        self._closed = False

    @property
    def is_open(self) -> bool:
        return self._queries is not None

    def watch(
        self, sql: str, params: tuple[Any, ...], callback: RowsCallback
    ) -> Callable[[], None]:
        watch = _Watch(sql, tuple(params), callback, self._on_damage)
        self._watches.append(watch)
        if self._queries is not None:
            self._attach(self._queries, watch)

        def unwatch() -> None:
            if watch in self._watches:
                self._watches.remove(watch)
            if watch.unsubscribe is not None:
                watch.unsubscribe()
                watch.unsubscribe = None

        return unwatch

    def ensure_open(self) -> bool:
        if self._queries is not None:
            return True
        if self._closed:
            return False
        identity = self._file_identity()
        if identity is None:
            return False
        try:
            reader = DbReader(self.path)
        except apsw.Error as error:
            log.debug("cannot open %s for live queries yet: %s", self.path, error)
            return False
        self._reader = reader
        self._identity = identity
        queries = LiveQueries(
            reader,
            coalesce_interval=self._coalesce,
            poll_interval=self._poll_interval,
            loop=self._loop,
        )
        self._queries = queries
        queries.start()
        for watch in self._watches:
            self._attach(queries, watch)
        return True

    def reopen(self) -> None:
        self._shut()
        self.ensure_open()

    def refresh(self) -> bool:
        if self._queries is None or self._file_identity() == self._identity:
            return False
        self.reopen()
        return True

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return (stat.st_dev, stat.st_ino)

    def notify_changed(self) -> None:
        queries = self._queries
        if queries is not None:
            queries.notify_changed()

    def close(self) -> None:
        self._closed = True
        self._shut()
        self._watches.clear()

    def _attach(self, queries: LiveQueries, watch: _Watch) -> None:
        watch.unsubscribe = queries.query(watch.sql, watch.params).subscribe(watch.deliver)

    def _shut(self) -> None:
        for watch in self._watches:
            watch.unsubscribe = None
        if self._queries is not None:
            self._queries.close()
            self._queries = None
        if self._reader is not None:
            try:
                self._reader.close()
            except apsw.Error:
                log.debug("closing the live-query reader failed", exc_info=True)
            self._reader = None
