"""Bringing a list to one event (a search hit, a jump): the row selected and on screen, the
tail pin released so new rows do not carry it away; in the feed, the group row holding the
event opened at the line of the hit."""

from __future__ import annotations

import asyncio

from PySide6.QtGui import QFontMetrics

from mirror.event_lookup import feed_row_of_offset, row_of_offset
from mirror.search.store import ascii_lower
from ui.event_model import RawEventsModel
from ui.feed_model import FeedModel
from ui.json_paint import monospace_font
from ui.json_text import PrettyJson
from ui.offload import run_blocking
from ui.stream_list_view import StreamListView

_JSON_TOP_PAD = 4
# How long a feed landing waits for the opened row's JSON before leaving it where it is.
_JSON_WAIT_S = 0.02
_JSON_WAIT_STEPS = 250


def _select(view: StreamListView, row: int) -> None:
    view.pin.user_input()
    index = view.model().index(row, 0)
    view.setCurrentIndex(index)
    view.scrollTo(index, StreamListView.ScrollHint.PositionAtCenter)
    view.setFocus()


def _listed_row(model: RawEventsModel, offset: int) -> int:
    query = model.list_query
    return model.lookups.read(lambda conn: row_of_offset(conn, query, offset))


def _feed_row(model: FeedModel, offset: int) -> int | None:
    return model.lookups.read(lambda conn: feed_row_of_offset(conn, offset))


async def land_raw(view: StreamListView, model: RawEventsModel, offset: int) -> int | None:
    """Select the first listed event at or after ``offset``; its row (None: past the end)."""
    row = await run_blocking(_listed_row, model, offset)
    if row >= model.rowCount():
        return None
    _select(view, row)
    return row


def hit_line(pretty: PrettyJson, offset: int, text: str) -> int | None:
    """The first line holding ``text`` in the event at ``offset`` within a feed row's JSON (the
    line of its ``"offset"`` key when the text is not given or not there)."""
    lines = pretty.lines
    key = f'"offset": {offset}'
    at = next((i for i, line in enumerate(lines) if line.strip().rstrip(",") == key), None)
    if at is None:
        return None
    indent = len(lines[at]) - len(lines[at].lstrip(" ")) - 2
    start = at
    while start > 0 and lines[start] != " " * indent + "{":
        start -= 1
    wanted = ascii_lower(text)
    if wanted:
        for number in range(start, len(lines)):
            if wanted in ascii_lower(lines[number]):
                return number
    return at


async def land_feed(
    view: StreamListView, model: FeedModel, offset: int, text: str = ""
) -> int | None:
    """Select the feed row holding ``offset``, open it and scroll to the hit's line."""
    row = await run_blocking(_feed_row, model, offset)
    if row is None or row >= model.rowCount():
        return None
    _select(view, row)
    if not model.is_row_expanded(row):
        model.toggle_expanded(row)
    pretty = model.pretty_for_row(row)
    for _ in range(_JSON_WAIT_STEPS):
        if pretty is not None:
            break
        await asyncio.sleep(_JSON_WAIT_S)
        pretty = model.pretty_for_row(row)
    if pretty is None:
        return row
    line = hit_line(pretty, offset, text)
    if line is not None:
        scroll_to_line(view, row, line)
    return row


def scroll_to_line(view: StreamListView, row: int, line: int) -> None:
    """Scroll an expanded row so its JSON line ``line`` sits near the top of the viewport."""
    spacing = QFontMetrics(monospace_font()).lineSpacing()
    top = view.rowViewportPosition(row) + view.verticalScrollBar().value()
    target = top + view.row_height + _JSON_TOP_PAD + line * spacing
    view.verticalScrollBar().setValue(max(0, target - view.viewport().height() // 3))
