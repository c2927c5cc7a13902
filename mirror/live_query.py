"""Live queries over a mirror file: re-run when the data moved, notify only when the result
changed.

Public API:

- ``LiveQueries(loop, request_run)``: the registry of one mirror file, driven by its
  ``mirror.mirror_watcher.MirrorWatcher`` (which owns the connection, the change detection and
  the ~16 ms tick). ``request_run()`` asks the watcher for a tick (a new subscriber's query has
  not run yet).
  - ``query(sql, params=()) -> LiveQuery``: the live query for that SQL text and parameters
    (deduplicated: the same key returns the same object).
  - ``mark_all_dirty()``: the data moved; every query runs at the next ``run``.
  - ``run(connection)``: run the queries that are due and have subscribers, on the loop thread.
  - ``query_count``: how many queries are registered; ``close()``: stop everything.
- ``LiveQuery``: ``rows`` (last successful result, or a result of the same SQL text with other
  parameters while ``status == "pending"``, so a scrolled window never flashes empty),
  ``status`` (``"pending"``, ``"ok"``, ``"error"``), ``error``, ``run_count``, and
  ``subscribe(callback) -> unsubscribe``; ``callback(query)`` runs on the loop.

Behaviour (reference ``db.query`` + ``useStreamQuery``, with the later fixes):

- A query runs on its first subscriber, and after every change the watcher publishes while it
  has subscribers (the watcher's tick coalesces them: at most one pass per ~16 ms).
- Listeners are notified only when status, error or rows differ from the previous result.
- A query nobody subscribes to is dropped on the next loop iteration (whether it was never
  subscribed or its last subscriber left); subscribing to a dropped query registers it again.
- A table that does not exist yet reads as empty (``[(0,)]`` for ``SELECT COUNT(...)``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

import apsw
import orjson

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

    def _run(self, connection: apsw.Connection) -> bool:
        """Re-run; True when the visible result changed."""
        self.run_count += 1
        previous = (self.status, self.error, self.rows)
        try:
            rows: Rows = connection.execute(self.sql, self.params).fetchall()
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

    def __init__(self, loop: asyncio.AbstractEventLoop, request_run: Callable[[], None]) -> None:
        self._loop = loop
        self._request_run = request_run
        self._queries: dict[str, LiveQuery] = {}
        self._closed = False

    @property
    def query_count(self) -> int:
        return len(self._queries)

    @property
    def has_pending(self) -> bool:
        """A subscribed query has not seen the current data yet."""
        return any(query._dirty and query._listeners for query in self._queries.values())

    def close(self) -> None:
        self._closed = True
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

    def mark_all_dirty(self) -> None:
        for query in self._queries.values():
            query._dirty = True

    def run(self, connection: apsw.Connection) -> None:
        for query in list(self._queries.values()):
            if not query._dirty or not query._listeners:
                continue
            query._dirty = False
            if query._run(connection):
                query._notify()

    def _attach(self, query: LiveQuery) -> None:
        if self._closed:
            return
        if self._queries.get(query.key) is not query:
            self._queries[query.key] = query
            query._dirty = True
        if query._dirty:
            self._request_run()

    def _arm_gc(self, query: LiveQuery) -> None:
        self._loop.call_soon(self._collect, query)

    def _collect(self, query: LiveQuery) -> None:
        if not query._listeners and self._queries.get(query.key) is query:
            del self._queries[query.key]
