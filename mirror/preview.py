"""A one-line preview of an event for list columns. Pure.

Public API:

- ``preview_line(payload, metadata, width) -> str``: the payload's compact JSON, then the
  metadata's if there is room, cut to ``width`` characters (the last one an ellipsis when cut).
  Either may be None (absent) or a prefix already cut by the query (``PREVIEW_SQL``).
- ``preview_sql(alias) -> str``: two SQL expressions (payload, metadata) that read only a bounded
  prefix of each as compact JSON text; bind the prefix length (``prefix_length(width)``) to
  each ``?``.
"""

from __future__ import annotations

ELLIPSIS = "…"
_SEPARATOR = "  "


def prefix_length(width: int) -> int:
    """How much of each JSON text to fetch: one more than fits, so a cut is visible."""
    return width + 1


def preview_sql(alias: str = "e") -> str:
    """Payload and metadata prefixes of the ``events`` row named ``alias`` (two columns)."""
    return (
        f"substr({alias}.raw_jsonb -> '$.payload', 1, ?), "
        f"substr({alias}.raw_jsonb -> '$.metadata', 1, ?)"
    )


def _cut(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + ELLIPSIS if width > 0 else ""


def preview_line(payload: str | None, metadata: str | None, width: int) -> str:
    """``payload`` (then ``metadata`` if room is left) on one line, at most ``width`` chars."""
    line = " ".join((payload or "").splitlines())
    room = width - len(line) - len(_SEPARATOR)
    if metadata and metadata != "{}" and room > 0:
        line = f"{line}{_SEPARATOR}{' '.join(metadata.splitlines())}" if line else metadata
    return _cut(line, width)
