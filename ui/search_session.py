"""One view's search: the text typed (debounced), its hits stepped through in offset order with
"hit k of n", and how much of the mirror the search index covers.

Every query runs off the UI thread on the view's search connections (`MirrorLookups`). A new
text supersedes the running query: its generation moves on, the connections are interrupted
and late answers are dropped. Counting runs beside stepping (connections of their own), so the
first hit shows before n is known; on a growing stream a recount starts from the last count and
counts only the events since.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Protocol, cast

from PySide6.QtCore import QObject, QTimer, Signal

from mirror.event_lookup import hit_before
from mirror.search.queries import HitCount, HitPage, SearchQuery
from ui.find_labels import index_progress_text
from ui.mirror_lookups import MirrorLookups
from ui.offload import run_blocking, spawn

log = logging.getLogger(__name__)

DEBOUNCE_MS = 150
# New events recount the hits at most this often (a count may scan the unindexed tail).
RECOUNT_MS = 1000
# Events scanned per backward step call, like `SearchReads.hits`' max_scan forwards.
BACKWARD_SCAN = 200_000


class FindHost(Protocol):
    """The view a search runs in."""

    @property
    def find_lookups(self) -> MirrorLookups: ...
    def find_scope(self) -> tuple[list[str] | None, str | None]: ...
    def set_highlight(self, text: str) -> None: ...
    async def show_hit(self, offset: int, text: str) -> None: ...


@dataclass(frozen=True)
class FindState:
    text: str = ""
    k: int | None = None
    n: int | None = None
    offset: int | None = None
    index_note: str | None = None
    error: str | None = None


class SearchSession(QObject):
    changed = Signal()

    def __init__(self, host: FindHost, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._host = host
        self.state = FindState()
        self._query: SearchQuery | None = None
        self._generation = 0
        self._stepping = False
        # A step asked for while another runs: taken when that one lands (None: none).
        self._queued: bool | None = None
        self._pending = ""
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.run_now)
        self._counting = False
        # The last count of the current query: a recount only counts the events since.
        self._known: HitCount | None = None
        self._recount = QTimer(self)
        self._recount.setSingleShot(True)
        self._recount.setInterval(RECOUNT_MS)
        self._recount.timeout.connect(self._count_again)

    @property
    def pending(self) -> bool:
        return self._timer.isActive()

    def set_text(self, text: str) -> None:
        """The box changed: search for it once typing pauses."""
        self._pending = text
        self._timer.start()

    def run_now(self) -> None:
        self._timer.stop()
        self._start(self._pending)

    def rescope(self) -> None:
        """The list's filter changed: search the new list for the same text."""
        if self.state.text and not self.pending:
            self._start(self.state.text)

    def _update(self, **changes: int | str | None) -> None:
        self.state = replace(self.state, **changes)  # type: ignore[arg-type]
        self.changed.emit()

    def _start(self, text: str) -> None:
        self._generation += 1
        self._known = None
        self._host.find_lookups.interrupt_search()
        self._stepping = False
        self._queued = None
        self._host.set_highlight(text)
        if not text:
            self._query = None
            self.state = FindState()
            self.changed.emit()
            return
        types, where = self._host.find_scope()
        self._query = SearchQuery.build(text, where=where, types=types)
        self.state = FindState(text=text)
        self.changed.emit()
        generation = self._generation
        spawn(self._first(generation), what="finding the first hit", owner=self)
        spawn(self._count(generation), what="counting hits", owner=self)

    # --- queries ---------------------------------------------------------------------------

    def _page(self, query: SearchQuery, after: int) -> HitPage:
        return self._host.find_lookups.search().hits(query, after, 1)

    def _before(self, query: SearchQuery, before: int) -> tuple[int | None, int]:
        return self._host.find_lookups.search().read(
            lambda conn: hit_before(conn, query, before, BACKWARD_SCAN)
        )

    def _counted(self, query: SearchQuery, known: HitCount | None) -> HitCount:
        return self._host.find_lookups.counting().count(query, known=known)

    def _position(self, query: SearchQuery, offset: int) -> int | None:
        return self._host.find_lookups.search().position(query, offset)

    async def _next_after(self, query: SearchQuery, after: int, generation: int) -> int | None:
        while generation == self._generation:
            page = await run_blocking(self._page, query, after, long=True)
            if generation != self._generation:
                return None
            self._update(index_note=index_progress_text(page.indexed_through, page.total))
            if page.offsets:
                return page.offsets[0]
            if page.exhausted:
                return None
            after = page.next_after
        return None

    async def _prev_before(self, query: SearchQuery, before: int, generation: int) -> int | None:
        while generation == self._generation:
            hit, scanned_down_to = await run_blocking(self._before, query, before, long=True)
            if hit is not None or scanned_down_to <= 1:
                return hit
            before = scanned_down_to
        return None

    async def _first(self, generation: int) -> None:
        query = self._query
        if query is None:
            return
        self._stepping = True
        try:
            offset = await self._next_after(query, 0, generation)
            if generation != self._generation:
                return
            if offset is None:
                self._update(k=None, offset=None)
                return
            self._update(k=1, offset=offset)
            await self._host.show_hit(offset, query.text)
        except Exception as error:
            self._failed(generation, error)
        finally:
            self._stepped(generation)

    def stream_grew(self) -> None:
        """New events arrived: count the hits again soon (n stays right on a live stream)."""
        if self._query is not None and not self._recount.isActive():
            self._recount.start()

    def _count_again(self) -> None:
        if self._query is None:
            return
        if self._counting:
            self._recount.start()
            return
        spawn(self._count(self._generation), what="counting hits", owner=self)

    async def _count(self, generation: int) -> None:
        query = self._query
        if query is None:
            return
        self._counting = True
        try:
            counted = await run_blocking(self._counted, query, self._known, long=True)
        except Exception as error:
            self._failed(generation, error)
            return
        finally:
            self._counting = False
        if generation == self._generation:
            self._known = counted
            note = index_progress_text(counted.indexed_through, counted.total)
            self._update(n=counted.n, index_note=note)

    def _failed(self, generation: int, error: Exception) -> None:
        if generation == self._generation:  # a superseded query was interrupted on purpose
            log.debug("search failed: %s", error)
            self._update(error=str(error))

    # --- stepping --------------------------------------------------------------------------

    def step(self, forward: bool) -> None:
        """Enter / F3 (forward), Shift+Enter / Shift+F3 (back); both wrap around."""
        if self.pending:
            self.run_now()
            return
        if self._query is None:
            return
        if self._stepping:
            self._queued = forward
            return
        self._stepping = True
        spawn(self._step(forward, self._generation), what="stepping through hits", owner=self)

    async def _step(self, forward: bool, generation: int) -> None:
        query = self._query
        assert query is not None
        state = self.state
        try:
            current = state.offset or 0
            if forward:
                offset = await self._next_after(query, current, generation)
                k = None if state.k is None else state.k + 1
                if offset is None and current:
                    offset, k = await self._next_after(query, 0, generation), 1
            else:
                offset = (
                    await self._prev_before(query, current or 1, generation) if current else None
                )
                k = None if state.k is None else state.k - 1
                if offset is None:
                    total = await run_blocking(self._counted_total, long=True)
                    offset, k = await self._prev_before(query, total + 1, generation), state.n
            if generation != self._generation or offset is None:
                return
            if k is None:
                k = await run_blocking(self._position, query, offset, long=True)
            self._update(k=k, offset=offset)
            await self._host.show_hit(offset, query.text)
        except Exception as error:
            self._failed(generation, error)
        finally:
            self._stepped(generation)

    def _stepped(self, generation: int) -> None:
        if generation != self._generation:
            return
        self._stepping = False
        queued, self._queued = self._queued, None
        if queued is not None:
            self.step(queued)

    def _counted_total(self) -> int:
        """The last offset in the mirror (0 when empty)."""
        rows = self._host.find_lookups.search().read(
            lambda conn: conn.execute(
                "SELECT coalesce(max(local_index) + 1, 0) FROM events"
            ).fetchall()
        )
        return int(cast(int, rows[0][0]))
