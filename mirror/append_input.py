"""Events for ``streamdesk append`` from bytes: JSON Lines, or one JSON object (pure, no I/O).

Public API:

- ``EventDecoder``: ``feed(chunk) -> Decoded`` as bytes arrive, ``finish() -> Decoded`` at the
  end of the input. ``Decoded.events`` are the events of the complete lines so far, in order
  (``sizes``: the bytes of each); ``Decoded.error`` (a ``BadInput``) is set at the first line
  that is not a JSON object, and the events are those *before* it: nothing after a bad line is
  ever returned.
- ``decode_all(data) -> list[event]``: a whole input at once; raises ``BadInput``.
- ``BadInput(line, reason)``: ``str()`` names the line.

Blank lines are skipped. When the first non-blank line starts an object that does not end on
that line, the whole input is read as one (pretty-printed) JSON object instead of JSON Lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

Event = dict[str, Any]


class BadInput(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(slots=True)
class Decoded:
    events: list[Event] = field(default_factory=list)
    # The size in bytes of each event's JSON text, for batching by size.
    sizes: list[int] = field(default_factory=list)
    error: BadInput | None = None


def _as_event(value: object) -> Event:
    if not isinstance(value, dict):
        raise ValueError(f"an event must be a JSON object, not {_kind(value)}")
    return value


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool) or value is None:
        return orjson.dumps(value).decode()
    return "a number"


class EventDecoder:
    def __init__(self) -> None:
        self.lines = 0  # lines read so far
        self._tail = b""
        self._failed = False
        self._seen_event = False
        # The input so far once it reads as one multi-line JSON object rather than JSON Lines.
        self._document: list[bytes] | None = None
        self._first_error = BadInput(1, "")

    def feed(self, chunk: bytes) -> Decoded:
        if self._failed:
            return Decoded()
        if self._document is not None:
            self._document.append(chunk)
            return Decoded()
        *lines, self._tail = (self._tail + chunk).split(b"\n")
        return self._decode_lines(lines)

    def finish(self) -> Decoded:
        if self._failed:
            return Decoded()
        if self._document is not None:
            return self._decode_document(b"".join(self._document))
        tail, self._tail = self._tail, b""
        return self._decode_lines([tail]) if tail.strip() else Decoded()

    def _decode_lines(self, lines: list[bytes]) -> Decoded:
        decoded = Decoded()
        for index, line in enumerate(lines):
            self.lines += 1
            if not line.strip():
                continue
            try:
                decoded.events.append(_as_event(orjson.loads(line)))
                decoded.sizes.append(len(line))
            except (orjson.JSONDecodeError, ValueError) as error:
                reason = _reason(error)
                if not self._seen_event and line.lstrip().startswith(b"{"):
                    # Maybe one pretty-printed object: keep everything and parse it at the end.
                    self._first_error = BadInput(self.lines, reason)
                    rest = b"\n".join(lines[index + 1 :])
                    self._document = [line, b"\n", rest, b"\n" if rest else b"", self._tail]
                    self._tail = b""
                    return decoded
                self._failed = True
                decoded.error = BadInput(self.lines, reason)
                return decoded
            self._seen_event = True
        return decoded

    def _decode_document(self, data: bytes) -> Decoded:
        self._failed = True
        try:
            # It starts with "{": whatever parses is an object.
            return Decoded([orjson.loads(data)], [len(data)])
        except orjson.JSONDecodeError:
            return Decoded(error=self._first_error)


def _reason(error: Exception) -> str:
    if isinstance(error, orjson.JSONDecodeError):
        return f"invalid JSON ({error})"
    return str(error)


def decode_all(data: bytes) -> list[Event]:
    decoder = EventDecoder()
    events: list[Event] = []
    for decoded in (decoder.feed(data), decoder.finish()):
        events.extend(decoded.events)
        if decoded.error is not None:
            raise decoded.error
    return events
