"""Rows with their one-line previews, each set fetched in one query (for list views, the CLI).

Public API:

- ``PreviewRow(offset, type, created_at, preview)``: frozen dataclass.
- ``preview_window(conn, start, limit, width=80) -> list[PreviewRow]``: rows ``start ..
  start+limit-1`` (0-based positions = ``local_index``), ordered by offset.
- ``preview_at(conn, offsets, width=80) -> list[PreviewRow]``: the rows at ``offsets`` (absent
  ones skipped), ordered by offset.

Only a bounded prefix of each payload and metadata is handed to Python (``mirror.preview``);
SQLite still renders each value's JSON text before cutting it, which is linear in its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import apsw
import orjson

from mirror.preview import prefix_length, preview_line, preview_sql

_COLUMNS = f"e.local_index + 1, e.type, e.created_at, {preview_sql('e')}"


@dataclass(frozen=True, slots=True)
class PreviewRow:
    offset: int
    type: str
    created_at: str
    preview: str


def _rows(
    conn: apsw.Connection, sql: str, params: tuple[object, ...], width: int
) -> list[PreviewRow]:
    rows: list[PreviewRow] = []
    for offset, kind, created, payload, metadata in conn.execute(sql, params).fetchall():
        line = preview_line(cast(str | None, payload), cast(str | None, metadata), width)
        rows.append(PreviewRow(int(cast(int, offset)), str(kind), str(created), line))
    return rows


def preview_window(
    conn: apsw.Connection, start: int, limit: int, width: int = 80
) -> list[PreviewRow]:
    prefix = prefix_length(width)
    sql = (
        f"SELECT {_COLUMNS} FROM events AS e WHERE e.local_index >= ? "
        "ORDER BY e.local_index LIMIT ?"
    )
    return _rows(conn, sql, (prefix, prefix, start, limit), width)


def preview_at(conn: apsw.Connection, offsets: Sequence[int], width: int = 80) -> list[PreviewRow]:
    if not offsets:
        return []
    prefix = prefix_length(width)
    sql = (
        f"SELECT {_COLUMNS} FROM events AS e WHERE e.local_index IN "
        "(SELECT value - 1 FROM json_each(?)) ORDER BY e.local_index"
    )
    return _rows(conn, sql, (prefix, prefix, orjson.dumps(list(offsets)).decode()), width)
