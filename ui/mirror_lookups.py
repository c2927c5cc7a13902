"""The connections a stream view reads its mirror through for previews, filtered windows,
searches, jumps and big events (``mirror.search.queries.SearchReads``, no Qt).

Each is opened on first use (the file may not exist yet when the view is built) and closed with
the view. Quick reads, stepping through hits and counting hits get a connection each: a count
can run for a while, and ``interrupt_search`` stops searches without touching the reads that
paint rows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import apsw

from mirror.search.queries import SearchReads
from mirror.search.scan_pool import scan_threads

T = TypeVar("T")


class _Lazy:
    def __init__(self, path: Path, scan_threads: int = 0) -> None:
        self._path = path
        self._scan_threads = scan_threads
        self._lock = threading.Lock()
        self._reads: SearchReads | None = None
        self._closed = False

    def get(self) -> SearchReads:
        with self._lock:
            if self._closed:
                raise RuntimeError("the view is closed")
            if self._reads is None:
                self._reads = SearchReads.open(self._path, self._scan_threads)
            return self._reads

    def peek(self) -> SearchReads | None:
        return self._reads

    def close(self) -> None:
        with self._lock:
            self._closed = True
            reads, self._reads = self._reads, None
        if reads is not None:
            reads.close()


class MirrorLookups:
    def __init__(self, mirror_file: Path) -> None:
        self._quick = _Lazy(mirror_file)
        self._search = _Lazy(mirror_file)
        # Counts may scan a whole mirror: they get the spare cores.
        self._count = _Lazy(mirror_file, scan_threads())

    def read(self, body: Callable[[apsw.Connection], T]) -> T:
        """``body(conn)`` in one snapshot on the quick connection (blocking: off the UI thread)."""
        return self._quick.get().read(body)

    def search(self) -> SearchReads:
        """The search connection (blocking calls: off the UI thread)."""
        return self._search.get()

    def counting(self) -> SearchReads:
        """The connection hit counts run on (blocking calls: off the UI thread)."""
        return self._count.get()

    def interrupt_search(self) -> None:
        for lazy in (self._search, self._count):
            reads = lazy.peek()
            if reads is not None:
                reads.interrupt()

    def close(self) -> None:
        self.interrupt_search()
        self._quick.close()
        self._search.close()
        self._count.close()
