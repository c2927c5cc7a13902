"""A connection failure as one plain line for the headless verbs (pure).

Public API:

- ``plain_failure(message, server) -> str``: what a wire or runtime error message means, in
  words and on one line: ``can't reach HOST: connection refused``, ``SERVER does not look like
  a stream server: it answered HTTP 404 with a web page``, ``HOST did not answer in time``...
  A message it does not recognise is cut to its first line (at most ``MAX_CHARS``).

The messages carry the raw cause (``ConnectError('All connection attempts failed')``, the first
bytes of an HTML error page); the desktop app shows its own words, the verbs these.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MAX_CHARS = 300

_HTTP_STATUS = re.compile(r"HTTP (\d{3})(?::\s*(.*))?", re.DOTALL)
_CONNECT_ERROR = re.compile(r"Connect(?:Error|Timeout)\((['\"])(.*?)\1\)")
_NOT_FOUND = ("Name or service not known", "nodename nor servname", "No address associated")
_TIMEOUTS = ("Timeout", "timed out")
_NOT_THE_PROTOCOL = ("malformed JSON message", "ProtocolError", "not a Cap'n Web")


def plain_failure(message: str, server: str) -> str:
    host = urlsplit(server).netloc or server
    status = _HTTP_STATUS.search(message)
    if status is not None:
        code, detail = status.group(1), (status.group(2) or "").strip()
        if detail.startswith("<") or "<html" in detail.lower():
            return (
                f"{server} does not look like a stream server: it answered HTTP {code} "
                "with a web page"
            )
        answer = f"{server} answered HTTP {code}"
        return _cut(f"{answer}: {_first_line(detail)}" if detail else answer)
    if any(marker in message for marker in _NOT_THE_PROTOCOL):
        return f"{server} does not look like a stream server: its answer is not the stream API"
    connect = _CONNECT_ERROR.search(message)
    if connect is not None:
        reason = connect.group(2)
        if reason == "All connection attempts failed":
            reason = "connection refused"
        elif any(marker in reason for marker in _NOT_FOUND):
            reason = "no such host"
        return _cut(f"can't reach {host}: {reason or 'connection failed'}")
    if any(marker in message for marker in _TIMEOUTS):
        return f"{host} did not answer in time"
    return _cut(_first_line(message))


def _first_line(text: str) -> str:
    stripped = text.strip()
    return stripped.splitlines()[0] if stripped else stripped


def _cut(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"
