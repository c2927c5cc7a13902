"""Where a jump lands: "1234" is that offset, "14:03" the first event at or after 14:03 on the
day of the stream's last event (in the zone lists show), "2026-06-01T14:03" that moment."""

from __future__ import annotations

from typing import cast

import apsw

from mirror.event_lookup import first_offset_at
from ui.mirror_lookups import MirrorLookups
from ui.time_text import parse_jump_input, parse_stored, stored_spelling


class JumpError(ValueError):
    """Nothing to land on, or a text that names no offset or time; says which."""


def _last_created(conn: apsw.Connection) -> str | None:
    row = conn.execute("SELECT created_at FROM events ORDER BY local_index DESC LIMIT 1").fetchone()
    return None if row is None else str(cast(str, row[0]))


def resolve_jump(lookups: MirrorLookups, text: str, utc: bool) -> int:
    """The offset to land on (blocking: off the UI thread). Raises JumpError."""
    if not text.strip():
        raise JumpError("type an offset or a time")
    last = lookups.read(_last_created)
    if last is None:
        raise JumpError("the mirror holds no events yet")
    try:
        target = parse_jump_input(text, utc=utc, reference=parse_stored(last))
    except ValueError as error:
        raise JumpError(str(error)) from error
    if isinstance(target, int):
        if target < 1:
            raise JumpError("offsets start at 1")
        return target
    spelled = stored_spelling(target)
    offset = lookups.read(lambda conn: first_offset_at(conn, spelled))
    if offset is None:
        raise JumpError(f"no event at or after {spelled}")
    return offset
