"""Live queries over a mirror file: re-run on change, notify only when the result changed.

Public API:

- ``LiveQueries(reader, *, coalesce_interval=0.016, poll_interval=0.05, loop=None)``: the
  registry for one mirror file, bound to an asyncio loop (the running one by default; with
  qasync that is the Qt loop). It reads through ``reader`` (a ``mirror.db.MirrorReader`` it does
  not own) on the loop thread.
  - ``start()``: begin polling ``PRAGMA data_version`` (commits by other processes).
  - ``query(sql, params=()) -> LiveQuery``: the live query for that SQL text and parameters
    (deduplicated: the same key returns the same object).
  - ``notify_changed()``: "the file changed"; thread-safe, meant to be wired to
    ``MirrorDb.add_commit_listener`` in the writing process.
  - ``query_count``: how many queries are registered; ``close()``: stop everything.
- ``LiveQuery``: ``rows`` (last successful result, or a result of the same SQL text with other
  parameters while ``status == "pending"``, so a scrolled window never flashes empty),
  ``status`` (``"pending"``, ``"ok"``, ``"error"``), ``error``, ``run_count``, and
  ``subscribe(callback) -> unsubscribe``; ``callback(query)`` runs on the loop.

Behaviour (reference ``db.query`` + ``useStreamQuery``, with the later fixes):

- A query runs on its first subscriber, and after every change signal while it has subscribers.
  Change signals are coalesced: at most one re-run pass per ``coalesce_interval`` (~16 ms).
- Listeners are notified only when status, error or rows differ from the previous result.
- A query nobody subscribes to is dropped on the next loop iteration (whether it was never
  subscribed or its last subscriber left); subscribing to a dropped query registers it again.
- A table that does not exist yet reads as empty (``[(0,)]`` for ``SELECT COUNT(...)``).
- Change signals: ``notify_changed()`` from the writer in this process (immediate), and
  ``PRAGMA data_version`` on the reader connection, polled every ``poll_interval`` (a cheap
  in-memory check), which catches commits from any other connection or process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

import apsw
import orjson

from mirror.db import MirrorReader

log = logging.getLogger(__name__)

Status = Literal["pending", "ok", "error"]
Rows = list[tuple[Any, ...]]


class LiveQuery:
    """One SQL text + parameters, kept fresh while someone subscribes."""

    def __init__(self, registry: LiveQueries, sql: str, params: tuple[Any, ...], key: str) -> None:
        self.sql = sql
        self.params = params
        self.key = key
        self.rows: Rows = []
        self.status: Status = "pending"
        self.error: BaseException | None = None
        self.run_count = 0
        self._registry = registry
        self._listeners: list[Callable[[LiveQuery], object]] = []
        self._dirty = True

    def subscribe(self, callback: Callable[[LiveQuery], object]) -> Callable[[], None]:
        """Call ``callback(self)`` whenever the result changes; returns the unsubscribe."""
        self._listeners.append(callback)
        self._registry._attach(self)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)
                if not self._listeners:
                    self._registry._arm_gc(self)

        return unsubscribe

    def _run(self, reader: MirrorReader) -> bool:
        """Re-run; True when the visible result changed."""
        self.run_count += 1
        previous = (self.status, self.error, self.rows)
        try:
            rows: Rows = reader.connection.execute(self.sql, self.params).fetchall()
        except apsw.SQLError as error:
            if "no such table" not in str(error):
                self.status, self.error = "error", error
                return (self.status, self.error) != previous[:2]
            rows = [(0,)] if self.sql.lstrip().upper().startswith("SELECT COUNT(") else []
        except apsw.Error as error:
            self.status, self.error = "error", error
            return (self.status, self.error) != previous[:2]
        self.status, self.error, self.rows = "ok", None, rows
        return (self.status, self.error, self.rows) != previous

    def _notify(self) -> None:
        for callback in list(self._listeners):
            try:
                callback(self)
            except Exception:
                log.exception("live query listener failed")


class LiveQueries:
    """The live queries of one mirror file (see the module docstring)."""

    def __init__(
        self,
        reader: MirrorReader,
        *,
        coalesce_interval: float = 0.016,
        poll_interval: float = 0.05,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.reader = reader
        self.coalesce_interval = coalesce_interval
        self.poll_interval = poll_interval
        self._loop = loop or asyncio.get_running_loop()
        self._queries: dict[str, LiveQuery] = {}
        self._flush_handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self._last_flush = float("-inf")
        self._seen_version: int | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def query_count(self) -> int:
        return len(self._queries)

    def start(self) -> None:
        if self._poll_task is None and not self._closed:
            self._poll_task = self._loop.create_task(self._poll())

    def close(self) -> None:
        self._closed = True
        if self._poll_task is not None:
            self._poll_task.cancel()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._queries.clear()

    def query(self, sql: str, params: Sequence[Any] = ()) -> LiveQuery:
        params = tuple(params)
        key = f"{sql}\0{orjson.dumps(params, default=str).decode()}"
        existing = self._queries.get(key)
        if existing is not None:
            return existing
        query = LiveQuery(self, sql, params, key)
        for other in self._queries.values():
            if other.sql == sql and other.status == "ok":
                query.rows = other.rows
                break
        self._queries[key] = query
        self._arm_gc(query)
        return query

    def notify_changed(self) -> None:
        """Mark every live query stale; safe to call from any thread."""
        if self._closed:
            return
        # A closed loop raises RuntimeError: nobody is watching any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._mark_all_dirty)

    # -- machinery ------------------------------------------------------------------------------

    def _attach(self, query: LiveQuery) -> None:
        if self._closed:
            return
        if self._queries.get(query.key) is not query:
            self._queries[query.key] = query
            query._dirty = True
        if query._dirty:
            self._schedule_flush()

    def _arm_gc(self, query: LiveQuery) -> None:
        self._loop.call_soon(self._collect, query)

    def _collect(self, query: LiveQuery) -> None:
        if not query._listeners and self._queries.get(query.key) is query:
            del self._queries[query.key]

    def _mark_all_dirty(self) -> None:
        if self._closed:
            return
        for query in self._queries.values():
            query._dirty = True
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_handle is not None or self._closed:
            return
        delay = self._last_flush + self.coalesce_interval - self._loop.time()
        if delay <= 0:
            self._flush_handle = self._loop.call_soon(self._flush)
        else:
            self._flush_handle = self._loop.call_later(delay, self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        self._last_flush = self._loop.time()
        try:
            # Everything committed up to this version is seen by the runs below, so the poll
            # need not trigger another pass for it.
            self._seen_version = self.reader.data_version()
        except apsw.Error:
            log.warning("reading data_version of %s failed", self.reader.path, exc_info=True)
        for query in list(self._queries.values()):
            if not query._dirty or not query._listeners:
                continue
            query._dirty = False
            if query._run(self.reader):
                query._notify()

    async def _poll(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.poll_interval)
            try:
                version = self.reader.data_version()
            except apsw.Error:
                log.warning("polling data_version of %s failed", self.reader.path, exc_info=True)
                continue
            if version != self._seen_version:
                self._seen_version = version
                self._mark_all_dirty()
