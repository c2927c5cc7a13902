"""The event feed of one mirror as a one-column model: one row per feed item.

Rows come in pages by `local_index` like the raw events; the last row can still grow (a group
gains events), so every refresh marks it stale and it is refetched while the old version stays
on screen. Expansion is keyed by `local_index`.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from mirror.event_bounded import read_bounded_feed_item
from mirror.runtime import FeedRow
from ui.bounded_json import bounded_pretty
from ui.json_text import PrettyJson
from ui.labels import (
    CHILD_STREAM_COMPONENT,
    CREATED_COMPONENT,
    WOKEN_COMPONENT,
    component_event_type,
    counted,
    lifecycle_label,
    offset_range_label,
)
from ui.mirror_lookups import MirrorLookups
from ui.offload import run_blocking
from ui.ports import RuntimeLike
from ui.windowed_model import ROW_ROLE, AnyIndex, WindowedListModel

log = logging.getLogger(__name__)

LIFECYCLE_COMPONENTS = (CREATED_COMPONENT, WOKEN_COMPONENT)


def feed_row_type(item: FeedRow) -> str:
    """The event type a row shows: its own, else the one its component stands for."""
    return item.event_type or component_event_type(item.component)


def feed_row_text(item: FeedRow) -> str:
    """One-line summary of a feed row (also its accessible text)."""
    if item.component in LIFECYCLE_COMPONENTS:
        return lifecycle_label(item.component, item.first_offset)
    if item.component == CHILD_STREAM_COMPONENT:
        return f"Child stream created: {item.child_path or 'missing childPath in payload'}"
    offsets = offset_range_label(item.first_offset, item.last_offset)
    return f"{offsets}  {feed_row_type(item)}  {counted(item.event_count, 'event')}"


def _load_pretty(lookups: MirrorLookups, local_index: int) -> PrettyJson:
    return bounded_pretty(lookups.read(lambda conn: read_bounded_feed_item(conn, local_index)))


class FeedModel(WindowedListModel[FeedRow]):
    countChanged = Signal()

    def __init__(self, runtime: RuntimeLike, parent: QObject | None = None) -> None:
        lookups = MirrorLookups(runtime.mirror_file)
        super().__init__(
            runtime,
            lambda row: _load_pretty(lookups, row),
            what="counting feed items",
            parent=parent,
        )
        self.lookups = lookups
        self.destroyed.connect(lambda *_: lookups.close())
        self.refresh()

    @property
    def count(self) -> int:
        return self._count

    async def _count_once(self) -> None:
        try:
            count = await run_blocking(self._runtime.reader.feed_count)
        except Exception as error:  # an empty or cleared mirror has no tables yet
            log.debug("counting feed items failed: %s", error)
            count = 0
        self._apply_count(count)

    def _first_stale_row(self, before: int) -> int:
        return max(0, before - 1)

    def _apply_count(self, count: int) -> None:
        before = self._count
        super()._apply_count(count)
        if 0 < before <= count:
            # The last row of before may have grown: refetch it, keeping the old one on screen.
            self._rows.windows.mark_stale_from(before - 1)
            self.expanded.invalidate(before - 1)
            self._rows_changed(before - 1, before - 1)
        self.countChanged.emit()

    def _load_page(self, start: int, limit: int) -> list[FeedRow]:
        return list(self._runtime.reader.feed_range(start, limit))

    def item_at(self, row: int) -> FeedRow | None:
        return self.row_at(row)

    # Expansion is keyed by the row itself: a feed item's local_index is its row.

    def _key_for_row(self, row: int) -> int | None:
        return row

    def _row_for_key(self, key: int) -> int | None:
        return key if key < self._count else None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self.item_at(index.row())
        if role == ROW_ROLE:
            return item
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return "…" if item is None else feed_row_text(item)
        return None
