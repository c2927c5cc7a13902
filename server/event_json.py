"""JSON bytes of committed events and the server clock's timestamp format.

A committed event is serialised once, at commit, and those bytes are what storage keeps.
`wire_event` turns stored bytes into what an RPC answer sends: most events go out as their own
bytes, with no decode and re-encode.
"""

from datetime import UTC, datetime
from typing import Any

import orjson

from server.errors import StreamRequestError
from server.types import Event
from wire.codec import UNDEFINED

# Dates must take the JS `toJSON` form, so orjson's native datetime output is bypassed.
_DUMPS_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME


def now_iso() -> str:
    """Server clock as JS `Date.toISOString()` prints it: UTC, milliseconds, `Z`."""
    return _iso(datetime.now(UTC))


def event_bytes(event: Event) -> tuple[bytes, Event]:
    """Serialise a committed event; returns the bytes and the event exactly as they encode it.

    Values JSON cannot hold are mapped as `JSON.stringify` would (undefined object members
    dropped, undefined array items → null, dates → ISO strings); bytes are refused.
    """
    try:
        return orjson.dumps(event, option=_DUMPS_OPTIONS), event
    except orjson.JSONEncodeError:
        pass
    plain = _to_json_value(event)
    try:
        return orjson.dumps(plain, option=_DUMPS_OPTIONS), plain
    except orjson.JSONEncodeError as exc:
        raise StreamRequestError(f"event is not JSON-serialisable: {exc}") from None


def load_event(data: bytes) -> Event:
    event: Event = orjson.loads(data)
    return event


def wire_event(data: bytes) -> Event | orjson.Fragment:
    """Stored event bytes as an RPC result item: the bytes themselves when they hold no `[`.

    Cap'n Web rewrites only arrays (escaped as `[[...]]`) and values JSON cannot hold, and the
    stored bytes hold none of the latter (orjson wrote them: finite numbers, 64-bit integers,
    string keys). So JSON without an array is already its own Cap'n Web expression. A `[` inside
    a string only costs the slow path.
    """
    if b"[" in data:
        return load_event(data)
    return orjson.Fragment(data)


def _iso(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _to_json_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_json_value(v) for k, v in value.items() if v is not UNDEFINED}
    if isinstance(value, list | tuple):
        return [None if item is UNDEFINED else _to_json_value(item) for item in value]
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raise StreamRequestError("event is not JSON-serialisable: it contains bytes")
    return value
