"""``format_table(columns, rows) -> str``: a plain text table (header, rule, rows; numbers
right-aligned) for the headless verbs that print rows."""

from __future__ import annotations

from collections.abc import Sequence


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def format_table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table: header, rule, rows; numbers right-aligned."""
    if not columns:
        return "(no rows)" if not rows else "\n".join(" | ".join(map(_cell, r)) for r in rows)
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [len(name) for name in columns]
    for row in cells:
        for i, text in enumerate(row[: len(widths)]):
            widths[i] = max(widths[i], len(text))
    numeric = [
        bool(rows) and all(isinstance(row[i], int | float) for row in rows if row[i] is not None)
        for i in range(len(columns))
    ]
    lines = [" | ".join(name.ljust(widths[i]) for i, name in enumerate(columns))]
    lines.append("-+-".join("-" * width for width in widths))
    for row in cells:
        lines.append(
            " | ".join(
                text.rjust(widths[i]) if numeric[i] else text.ljust(widths[i])
                for i, text in enumerate(row[: len(widths)])
            )
        )
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(line.rstrip() for line in lines)
