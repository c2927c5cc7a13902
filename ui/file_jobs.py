"""Writing files from a mirror (Export JSONL, Save mirror as) without Qt: progress the UI can
show, a cancel it can ask for, and a `.partial` file renamed into place only at the end.

A job runs on a worker thread; the UI reads `JobProgress.done` / `.total` (plain ints, so a
read never needs a lock) and calls `cancel()` from its own thread. Nothing is left behind on a
failure or a cancel: the partial file is deleted and the target is as it was.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import apsw

from mirror.event_lookup import listed_json_page
from mirror.search.queries import SearchQuery
from ui.mirror_lookups import MirrorLookups
from ui.ports import ReaderLike


class JobCancelled(Exception):
    """The user cancelled the job; its partial file is gone."""


class JobProgress:
    """How far a job got (`total` None while unknown) and whether it should stop."""

    def __init__(self) -> None:
        self.done = 0
        self.total: int | None = None
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def update(self, done: int, total: int) -> None:
        """Progress reported as a whole; raises `JobCancelled` once a cancel was asked for."""
        if self._cancel.is_set():
            raise JobCancelled
        self.total, self.done = total, done

    def advance(self) -> None:
        """One more unit done; raises `JobCancelled` once a cancel was asked for."""
        if self._cancel.is_set():
            raise JobCancelled
        self.done += 1


def partial_path(target: Path) -> Path:
    return target.with_name(target.name + ".partial")


def write_jsonl(
    reader: ReaderLike, types: list[str] | None, target: Path, progress: JobProgress
) -> int:
    """Write every (filtered) event as one JSON line; runs on the long-job pool. Returns the
    number of events written."""
    total = reader.filtered_count(types) if types else reader.event_count()
    return write_lines(reader.iter_events_json(types), total, target, progress)


def listed_events_json(
    lookups: MirrorLookups, query: SearchQuery, batch: int = 1000
) -> Iterator[str]:
    """The JSON of every event a field-filtered list shows, read a page at a time."""
    after = 0
    while page := lookups.read(functools.partial(_page, query=query, after=after, batch=batch)):
        for offset, text in page:
            after = offset
            yield text


def _page(
    conn: apsw.Connection, *, query: SearchQuery, after: int, batch: int
) -> list[tuple[int, str]]:
    return listed_json_page(conn, query, after, batch)


def write_lines(lines: Iterable[str], total: int, target: Path, progress: JobProgress) -> int:
    """Write each line to ``target`` (through a partial file); returns how many."""
    progress.total = total
    partial = partial_path(target)
    try:
        with partial.open("w", encoding="utf-8") as out:
            for line in lines:
                progress.advance()
                out.write(line)
                out.write("\n")
        finish_partial(partial, target, progress)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return progress.done


def finish_partial(partial: Path, target: Path, progress: JobProgress) -> None:
    """Move a finished partial file into place, unless the job was cancelled meanwhile."""
    if progress.cancelled:
        partial.unlink(missing_ok=True)
        raise JobCancelled
    partial.replace(target)
