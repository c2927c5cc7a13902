"""Tables for the headless verbs that print rows (``query``, ``mirrors``), drawn by ``rich``.

Public API:

- ``format_table(columns, rows, *, width=None) -> str``: header, rule, rows (numbers
  right-aligned, NULL for None, ``<n bytes>`` for a blob), then ``(N rows)``. ``width`` is the
  terminal's: cells longer than their share are cut with an ellipsis. None (output into a pipe
  or a file) never cuts a cell.
- ``terminal_width(stream) -> int | None``: the width to pass for ``stream``.

Cell text is printed as it is: no markup, emoji codes or highlighting.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Sequence
from typing import TextIO

from rich import box
from rich.console import Console
from rich.table import Table

# Wide enough that no cell is ever cut when the output is not a terminal.
_UNLIMITED_WIDTH = 1_000_000


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def terminal_width(stream: TextIO) -> int | None:
    return shutil.get_terminal_size().columns if stream.isatty() else None


def format_table(
    columns: Sequence[str], rows: Sequence[Sequence[object]], *, width: int | None = None
) -> str:
    if not columns:
        return "(no rows)" if not rows else "\n".join(" | ".join(map(_cell, r)) for r in rows)
    table = Table(box=box.ASCII, show_edge=False, pad_edge=False)
    for i, name in enumerate(columns):
        numeric = bool(rows) and all(
            isinstance(row[i], int | float) for row in rows if row[i] is not None
        )
        table.add_column(name, justify="right" if numeric else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(_cell(value) for value in row[: len(columns)]))
    out = io.StringIO()
    console = Console(
        file=out,
        width=width or _UNLIMITED_WIDTH,
        color_system=None,
        markup=False,
        emoji=False,
        highlight=False,
    )
    console.print(table)
    # rich pads every line to the table's width; the last column needs no padding.
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)
