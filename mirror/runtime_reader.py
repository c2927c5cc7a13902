"""``RuntimeReader``: a runtime's ``reader``, usable before the mirror file exists.

Public API:

- ``RuntimeReader(path)``: the ``MirrorReader`` contract (``mirror.db_reads``) for the file at
  ``path``, whatever happens to that file: while it does not exist every read returns an empty
  result (``"null"`` for JSON, ``query_readonly`` raises ``FileNotFoundError``); the reader is
  opened when the file appears and opened again when the file is replaced (a mirror moved aside
  and rebuilt). Thread-safe, like the ``MirrorReader`` it delegates to. ``close()``.

A runtime hands out its ``reader`` as soon as it is acquired, but a follower's (or a fresh
mirror's) file may not exist yet, and ``MirrorReader`` never creates one.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import apsw

from mirror.db_reads import EventRow, FeedRow, MirrorReader

log = logging.getLogger(__name__)


class RuntimeReader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._reader: MirrorReader | None = None
        self._identity: tuple[int, int] | None = None
        self._closed = False

    def _current(self) -> MirrorReader | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        identity = (stat.st_dev, stat.st_ino)
        with self._lock:
            if self._closed:
                return None
            if self._reader is not None and identity == self._identity:
                return self._reader
            stale = self._reader
            try:
                self._reader = MirrorReader(self.path)
            except apsw.Error as error:
                log.debug("cannot open %s yet: %s", self.path, error)
                self._reader = None
                return None
            finally:
                if stale is not None:
                    _close_quietly(stale)
            self._identity = identity
            return self._reader

    def event_count(self) -> int:
        reader = self._current()
        return 0 if reader is None else reader.event_count()

    def max_offset(self) -> int:
        reader = self._current()
        return 0 if reader is None else reader.max_offset()

    def type_counts(self) -> dict[str, int]:
        reader = self._current()
        return {} if reader is None else reader.type_counts()

    def filtered_count(self, types: Sequence[str] | None) -> int:
        reader = self._current()
        return 0 if reader is None else reader.filtered_count(types)

    def events_range(
        self, start: int, limit: int, types: Sequence[str] | None = None
    ) -> list[EventRow]:
        reader = self._current()
        return [] if reader is None else reader.events_range(start, limit, types)

    def event_json(self, offset: int) -> str:
        reader = self._current()
        return "null" if reader is None else reader.event_json(offset)

    def iter_events_json(
        self, types: Sequence[str] | None = None, batch: int = 1000
    ) -> Iterator[str]:
        reader = self._current()
        if reader is not None:
            yield from reader.iter_events_json(types, batch)

    def feed_count(self) -> int:
        reader = self._current()
        return 0 if reader is None else reader.feed_count()

    def feed_range(self, start: int, limit: int) -> list[FeedRow]:
        reader = self._current()
        return [] if reader is None else reader.feed_range(start, limit)

    def feed_item_json(self, local_index: int) -> str:
        reader = self._current()
        return "null" if reader is None else reader.feed_item_json(local_index)

    def query_readonly(self, sql: str, max_rows: int) -> tuple[list[str], list[tuple[Any, ...]]]:
        reader = self._current()
        if reader is None:
            raise FileNotFoundError(f"there is no local mirror at {self.path} yet")
        return reader.query_readonly(sql, max_rows)

    def interrupt_query(self) -> None:
        reader = self._reader
        if reader is not None:
            reader.interrupt_query()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            reader, self._reader = self._reader, None
        if reader is not None:
            _close_quietly(reader)


def _close_quietly(reader: MirrorReader) -> None:
    try:
        reader.close()
    except apsw.Error:
        log.debug("closing a mirror reader failed", exc_info=True)
