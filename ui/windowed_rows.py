"""Loading a virtualised list's pages and expanded rows off the UI thread."""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from PySide6.QtCore import QObject

from ui.json_text import PrettyJson, prepare_pretty_json
from ui.offload import run_blocking, spawn
from ui.row_cache import RowWindows

log = logging.getLogger(__name__)

R = TypeVar("R")


class WindowedRows(Generic[R]):
    """Rows by position: `row(i)` answers from loaded pages and fetches the missing ones.

    `load(start, limit)` runs on the reader pool; `on_loaded(rows)` runs on the loop thread with
    the rows that just landed, so the model can tell its views.
    """

    def __init__(
        self,
        load: Callable[[int, int], Sequence[R]],
        on_loaded: Callable[[range], None],
        *,
        owner: QObject,
        page_size: int = 200,
    ) -> None:
        self._owner = owner
        self.windows: RowWindows[R] = RowWindows(page_size=page_size)
        self._load = load
        self._on_loaded = on_loaded
        self._fetching = False

    def row(self, row: int) -> R | None:
        found = self.windows.row(row)
        if self.windows.has_wanted() and not self._fetching:
            self._fetching = True
            spawn(self._fetch_wanted(), what="loading list rows", owner=self._owner)
        return found

    def cached(self, row: int) -> R | None:
        return self.windows.cached(row)

    async def _fetch_wanted(self) -> None:
        try:
            while pages := self.windows.take_wanted():
                for page in pages:
                    generation = self.windows.generation
                    size = self.windows.page_size
                    try:
                        rows = await run_blocking(self._load, page * size, size)
                    except Exception as error:  # a cleared or busy mirror: the next paint retries
                        log.debug("page %d did not load: %s", page, error)
                        self.windows.fetch_failed(page, generation)
                        continue
                    covered = self.windows.store(page, generation, rows)
                    if covered is not None and len(covered):
                        self._on_loaded(covered)
        finally:
            self._fetching = False


class CountRefresher:
    """Keeps a list model's counts current: one count at a time, and one more after it when
    changes were reported meanwhile, so a burst of status updates costs at most two queries.

    `count()` runs on the loop thread (it awaits its reads); `on_cleared()` runs when the
    runtime's `clear_version` moved (the mirror was discarded: every row the model holds is
    gone), before the next count.
    """

    def __init__(
        self,
        count: Callable[[], Awaitable[None]],
        on_cleared: Callable[[], None],
        *,
        clear_version: int,
        owner: QObject,
        what: str,
    ) -> None:
        self._count = count
        self._on_cleared = on_cleared
        self._clear_version = clear_version
        self._owner = owner
        self._what = what
        self._running = False
        self._again = False

    def stream_changed(self, clear_version: int) -> None:
        """The runtime reported new rows or a discarded mirror."""
        if clear_version != self._clear_version:
            self._clear_version = clear_version
            self._on_cleared()
        self.refresh()

    def refresh(self) -> None:
        if self._running:
            self._again = True
            return
        self._running = True
        spawn(self._run(), what=self._what, owner=self._owner)

    async def _run(self) -> None:
        try:
            while True:
                self._again = False
                await self._count()
                if not self._again:
                    return
        finally:
            self._running = False


class ExpandedRows:
    """Which rows are expanded, keyed by something stable (offset, local_index), and their
    pretty JSON, read (bounded for big events) and formatted off the UI thread and kept for the
    most recent rows."""

    def __init__(
        self,
        load_pretty: Callable[[int], PrettyJson],
        on_ready: Callable[[int], None],
        *,
        owner: QObject,
        cache_size: int = 128,
    ) -> None:
        self._owner = owner
        self.keys: set[int] = set()
        self._load_pretty = load_pretty
        self._on_ready = on_ready
        self._cache: OrderedDict[int, PrettyJson] = OrderedDict()
        self._cache_size = cache_size
        self._loading: set[int] = set()
        self._stale: set[int] = set()
        self._epoch = 0

    def is_expanded(self, key: int) -> bool:
        return key in self.keys

    def toggle(self, key: int) -> bool:
        """Flip one row; True when it is now expanded."""
        if key in self.keys:
            self.keys.discard(key)
            return False
        self.keys.add(key)
        self.pretty(key)
        return True

    def pretty(self, key: int) -> PrettyJson | None:
        """The row's pretty JSON, or None while it loads (a load starts if none is running)."""
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
            if key not in self._stale:
                return found
        if key in self.keys and key not in self._loading:
            self._stale.discard(key)
            self._loading.add(key)
            spawn(self._load(key, self._epoch), what="formatting row JSON", owner=self._owner)
        return found

    def invalidate(self, key: int) -> None:
        """The row's content changed (a feed group grew): format its JSON again when shown,
        showing the old JSON until then."""
        if key in self._cache or key in self._loading:
            self._stale.add(key)

    def forget_json(self) -> None:
        """The mirror was discarded: the same key may now stand for another event."""
        self._epoch += 1
        self._cache.clear()
        self._loading.clear()
        self._stale.clear()

    async def _load(self, key: int, epoch: int) -> None:
        try:
            pretty = await run_blocking(self._load_pretty, key)
        except Exception as error:
            pretty = prepare_pretty_json(json.dumps({"error": str(error)}))
        if epoch != self._epoch:
            return
        self._loading.discard(key)
        self._cache[key] = pretty
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        self._on_ready(key)
