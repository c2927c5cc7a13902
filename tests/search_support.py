"""Helpers for the search tests: committed events written through the mirror's own writer, and
the brute-force Python answers the index and the scans are checked against."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from mirror.db import MirrorDb
from mirror.processors import MirrorWriter

CREATED_AT = "2026-06-01T12:00:00.000Z"

Event = dict[str, Any]


def committed(bodies: Sequence[dict[str, Any]], first_offset: int = 1) -> list[Event]:
    """Event inputs (type, payload, metadata) as committed events from ``first_offset``."""
    return [
        {**body, "offset": first_offset + i, "createdAt": CREATED_AT}
        for i, body in enumerate(bodies)
    ]


def write_mirror(path: Path, bodies: Sequence[dict[str, Any]]) -> MirrorDb:
    """A mirror at ``path`` holding ``bodies`` (appended after what it holds), written by
    ``MirrorWriter`` as the runtime writes them."""
    db = MirrorDb.open(path)
    append(db, bodies)
    return db


def append(db: MirrorDb, bodies: Sequence[dict[str, Any]]) -> None:
    writer = MirrorWriter(db)
    writer.apply_sync(committed(bodies, db.event_count() + 1))


def searched_text(event: Event) -> str:
    """The searched text as mirror.search.store defines it (ASCII letters lowered)."""
    parts = [event["type"]]
    for key in ("payload", "metadata"):
        if key in event:
            parts.append(orjson.dumps(event[key]).decode())
    text = " ".join(parts)
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def brute_force(
    events: Sequence[Event],
    text: str = "",
    predicate: Callable[[Event], bool] | None = None,
    types: Sequence[str] | None = None,
) -> list[int]:
    """Offsets of the events a search must find, by reading every one in Python."""
    needle = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)
    return [
        e["offset"]
        for e in events
        if needle in searched_text(e)
        and (types is None or e["type"] in types)
        and (predicate is None or predicate(e))
    ]
