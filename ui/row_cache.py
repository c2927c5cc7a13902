"""Which windows of a virtualised list are loaded, loading or stale (pure, no Qt).

A list model shows `count` rows but holds only a few pages of them, fetched on demand by row
position. Stale pages (an appended row landed in a partial last page, or a feed group grew) keep
serving their old rows until the refetch lands, so nothing flashes empty. Every clear bumps the
generation, so a fetch started before the clear can never fill the new list with old rows.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import Generic, TypeVar

R = TypeVar("R")


class RowWindows(Generic[R]):
    def __init__(self, *, page_size: int = 200, max_pages: int = 24, max_wanted: int = 8) -> None:
        self.page_size = page_size
        self.max_pages = max_pages
        self.generation = 0
        self._pages: OrderedDict[int, list[R]] = OrderedDict()
        self._stale: set[int] = set()
        self._pending: set[int] = set()
        # Pending pages whose rows changed after their fetch began: stale as soon as they land.
        self._changed_while_pending: set[int] = set()
        # Only the most recently wanted pages are fetched: after a fast scroll the early requests
        # are out of sight and not worth a query.
        self._wanted: deque[int] = deque(maxlen=max_wanted)

    def row(self, row: int) -> R | None:
        """The row if its page is loaded (even stale), else None and its page becomes wanted."""
        page_index = row // self.page_size
        page = self._pages.get(page_index)
        if page is not None:
            self._pages.move_to_end(page_index)
            offset = row - page_index * self.page_size
            if offset < len(page):
                if page_index in self._stale:
                    self._want(page_index)
                return page[offset]
        self._want(page_index)
        return None

    def cached(self, row: int) -> R | None:
        """The row if loaded, without marking anything wanted."""
        page = self._pages.get(row // self.page_size)
        if page is None:
            return None
        offset = row % self.page_size
        return page[offset] if offset < len(page) else None

    def _want(self, page_index: int) -> None:
        if page_index in self._pending or page_index in self._wanted:
            return
        self._wanted.append(page_index)

    def take_wanted(self) -> list[int]:
        """Pages to fetch now (most recent first); they count as pending until stored."""
        taken: list[int] = []
        while self._wanted:
            page_index = self._wanted.pop()
            if page_index not in self._pending:
                self._pending.add(page_index)
                taken.append(page_index)
        return taken

    def has_wanted(self) -> bool:
        return bool(self._wanted)

    def store(self, page_index: int, generation: int, rows: Sequence[R]) -> range | None:
        """Keep a fetched page; returns the rows it covers, or None for a fetch from an old list."""
        if generation != self.generation:
            return None
        self._pending.discard(page_index)
        if page_index in self._changed_while_pending:
            self._changed_while_pending.discard(page_index)
            self._stale.add(page_index)
        else:
            self._stale.discard(page_index)
        self._pages[page_index] = list(rows)
        self._pages.move_to_end(page_index)
        while len(self._pages) > self.max_pages:
            evicted, _ = self._pages.popitem(last=False)
            self._stale.discard(evicted)
        start = page_index * self.page_size
        return range(start, start + len(rows))

    def fetch_failed(self, page_index: int, generation: int) -> None:
        if generation == self.generation:
            self._pending.discard(page_index)
            self._changed_while_pending.discard(page_index)

    def mark_stale_from(self, row: int) -> None:
        """Rows from `row` on changed or appeared: refetch the loaded pages that cover them."""
        first_page = row // self.page_size
        for page_index in self._pages:
            if page_index >= first_page:
                self._stale.add(page_index)
        self._changed_while_pending.update(p for p in self._pending if p >= first_page)

    def clear(self) -> None:
        self.generation += 1
        self._pages.clear()
        self._stale.clear()
        self._pending.clear()
        self._changed_while_pending.clear()
        self._wanted.clear()

    def loaded_rows(self) -> int:
        return sum(len(page) for page in self._pages.values())
