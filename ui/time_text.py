"""Event times for people: shown in local time or UTC, and times typed to jump to (pure).

The mirror stores ``created_at`` as the server spelled it (ISO 8601 in UTC, ``…Z``); lists show
``YYYY-MM-DD HH:MM:SS.mmm`` in the chosen zone and keep the stored value for tooltips. A time
typed to jump to is ``HH:MM``, ``HH:MM:SS`` (on the day of ``reference``, in the chosen zone) or
a full ISO datetime (its own zone if it names one, else the chosen zone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, tzinfo

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$")


def parse_stored(iso: str) -> datetime | None:
    """A stored ``created_at`` as an aware datetime (None when it is not ISO 8601)."""
    try:
        parsed = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def zone(utc: bool) -> tzinfo:
    """UTC, or this machine's local zone."""
    local = datetime.now().astimezone().tzinfo
    return UTC if utc or local is None else local


def shown_time(iso: str, utc: bool) -> str:
    """``2026-06-01 14:03:07.125`` in the chosen zone; the stored text if it does not parse."""
    parsed = parse_stored(iso)
    if parsed is None:
        return iso
    moment = parsed.astimezone(zone(utc))
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def time_tooltip(iso: str, utc: bool) -> str:
    """The stored value in full, and the local one as well when lists show UTC or vice versa."""
    parsed = parse_stored(iso)
    if parsed is None:
        return iso
    local = parsed.astimezone(zone(False)).isoformat(timespec="milliseconds")
    return f"{iso} (UTC)\n{local} (local)"


def stored_spelling(moment: datetime) -> str:
    """An aware datetime spelled like the server's ``created_at`` (UTC, milliseconds, ``Z``)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class TimeInputError(ValueError):
    message: str

    def __str__(self) -> str:
        return self.message


def parse_jump_time(text: str, *, utc: bool, reference: datetime | None) -> datetime:
    """The moment a typed time names; a clock time lands on ``reference``'s day in the zone."""
    text = text.strip()
    clock = _CLOCK.match(text)
    where = zone(utc)
    if clock:
        hour, minute, second, fraction = clock.groups()
        try:
            at = time(
                int(hour),
                int(minute),
                int(second or 0),
                int((fraction or "0").ljust(6, "0")),
            )
        except ValueError as error:
            raise TimeInputError(f"not a time of day: {text}") from error
        day = (reference or datetime.now(UTC)).astimezone(where).date()
        return datetime.combine(day, at, tzinfo=where)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise TimeInputError(
            f"expected HH:MM, HH:MM:SS or an ISO date and time, not {text!r}"
        ) from error
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=where)
    return parsed


def parse_jump_input(text: str, *, utc: bool, reference: datetime | None) -> int | datetime:
    """An offset (``1234``, ``#1,234``) or a moment (``parse_jump_time``)."""
    digits = text.strip().lstrip("#").replace(",", "").replace("_", "")
    if digits.isdigit():
        return int(digits)
    return parse_jump_time(text, utc=utc, reference=reference)
