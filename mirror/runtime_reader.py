"""``RuntimeReader``: a runtime's ``reader``, usable before the mirror file exists.

Public API:

- ``RuntimeReader(path, on_damage=None, identity=None)``: the ``MirrorReader`` contract
  (``mirror.db_reads``)
  for the file at ``path``, whatever happens to that file: while it does not exist every read
  returns an empty result (``"null"`` for JSON, ``query_readonly`` raises
  ``FileNotFoundError``); the reader is opened when the file appears and opened again when the
  file is replaced (a mirror moved aside and rebuilt). Thread-safe, like the ``MirrorReader``
  it delegates to. ``close()``. ``identity()`` (any thread) names the file at ``path`` now: a
  runtime passes its ``MirrorWatcher.current_identity``, so a read costs no ``stat`` (the
  watcher looks once per poll and at once when this process replaces the file); without it
  every read looks itself.
  A damaged file (``mirror.integrity.is_damage``) never raises SQLite's error into a view: the
  read answers as for a missing file and ``on_damage(message)`` (any thread) is told, so the
  runtime can heal it or say why; ``query_readonly`` and ``iter_events_json`` raise
  ``DamagedMirrorError`` with a message for people.

A runtime hands out its ``reader`` as soon as it is acquired, but a follower's (or a fresh
mirror's) file may not exist yet, and ``MirrorReader`` never creates one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import apsw

from mirror.db_reads import EventRow, FeedRow, MirrorReader
from mirror.integrity import DamagedMirrorError, is_damage
from mirror.mirror_change import FileIdentity
from mirror.mirror_watcher import stat_identity

log = logging.getLogger(__name__)

T = TypeVar("T")


class RuntimeReader:
    def __init__(
        self,
        path: Path,
        on_damage: Callable[[str], None] | None = None,
        identity: Callable[[], FileIdentity | None] | None = None,
    ) -> None:
        self.path = path
        self._on_damage = on_damage
        self._file_identity = identity or (lambda: stat_identity(path))
        self._lock = threading.Lock()
        self._reader: MirrorReader | None = None
        self._identity: tuple[int, int] | None = None
        self._closed = False

    def _current(self) -> MirrorReader | None:
        identity = self._file_identity()
        if identity is None:
            return None
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

    def _read(self, read: Callable[[MirrorReader], T], default: T) -> T:
        """``read(reader)``, or ``default`` while there is no file; damage is reported to
        ``on_damage`` and answered with ``default`` (views show the runtime's notice)."""
        reader = self._current()
        if reader is None:
            return default
        try:
            return read(reader)
        except apsw.Error as error:
            if not is_damage(error):
                raise
            self._report(error)
            return default

    def _report(self, error: BaseException) -> None:
        log.warning("mirror file %s is damaged: %s", self.path, error)
        if self._on_damage is not None:
            self._on_damage(str(error))

    def event_count(self) -> int:
        return self._read(lambda reader: reader.event_count(), 0)

    def max_offset(self) -> int:
        return self._read(lambda reader: reader.max_offset(), 0)

    def type_counts(self) -> dict[str, int]:
        return self._read(lambda reader: reader.type_counts(), {})

    def filtered_count(self, types: Sequence[str] | None) -> int:
        return self._read(lambda reader: reader.filtered_count(types), 0)

    def events_range(
        self, start: int, limit: int, types: Sequence[str] | None = None
    ) -> list[EventRow]:
        return self._read(lambda reader: reader.events_range(start, limit, types), [])

    def event_json(self, offset: int) -> str:
        return self._read(lambda reader: reader.event_json(offset), "null")

    def iter_events_json(
        self, types: Sequence[str] | None = None, batch: int = 1000
    ) -> Iterator[str]:
        reader = self._current()
        if reader is None:
            return
        try:
            yield from reader.iter_events_json(types, batch)
        except apsw.Error as error:
            if not is_damage(error):
                raise
            self._report(error)
            raise DamagedMirrorError(_damaged(self.path, error)) from error

    def feed_count(self) -> int:
        return self._read(lambda reader: reader.feed_count(), 0)

    def feed_range(self, start: int, limit: int) -> list[FeedRow]:
        return self._read(lambda reader: reader.feed_range(start, limit), [])

    def feed_item_json(self, local_index: int) -> str:
        return self._read(lambda reader: reader.feed_item_json(local_index), "null")

    def query_readonly(self, sql: str, max_rows: int) -> tuple[list[str], list[tuple[Any, ...]]]:
        reader = self._current()
        if reader is None:
            raise FileNotFoundError(f"there is no local mirror at {self.path} yet")
        try:
            return reader.query_readonly(sql, max_rows)
        except apsw.Error as error:
            if not is_damage(error):
                raise
            self._report(error)
            raise DamagedMirrorError(_damaged(self.path, error)) from error

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


def _damaged(path: Path, error: BaseException) -> str:
    return f"the mirror file {path.name} is damaged ({error})"


def _close_quietly(reader: MirrorReader) -> None:
    try:
        reader.close()
    except apsw.Error:
        log.debug("closing a mirror reader failed", exc_info=True)
