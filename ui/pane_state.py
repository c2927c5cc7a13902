"""What a stream pane says about its connection, in words, and what it offers to do (pure).

One coherent state per pane: a chip for the connection, a chip for the role, at most one error
banner (what is wrong, and when the next try is) with its buttons, and the text an empty list
shows. The runtime's raw error text (exception reprs, URL-encoded request URLs) never reaches the
screen as is: ``plain_error`` turns it into a sentence.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from mirror.runtime import RuntimeStatus

RETRY = "retry"
EDIT_SERVER = "edit_server"
WORK_OFFLINE = "work_offline"
ACTION_LABELS = {RETRY: "Retry now", EDIT_SERVER: "Edit server…", WORK_OFFLINE: "Work offline"}

_ERROR_CONNECTIONS = {"reconnecting", "unauthorized", "failed"}
_CHIPS = {
    "offline": ("offline", "muted"),
    "connecting": ("connecting…", "busy"),
    "subscribing": ("connecting…", "busy"),
    "catching-up": ("catching up", "busy"),
    "subscribed": ("live", "ok"),
    "reconnecting": ("no connection", "error"),
    "unauthorized": ("token refused", "error"),
    "failed": ("stopped", "error"),
    "closed": ("closed", "muted"),
}
_REFUSED = ("connection refused", "all connection attempts failed", "connecterror")
_NO_HOST = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "getaddrinfo failed",
    "no address associated",
)
_TIMEOUT = ("timed out", "timeout", "no answer within")
_HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b")
_EXCEPTION_REPR = re.compile(r"\b[A-Z]\w*(?:Error|Exception|Timeout)\((['\"])(.*?)\1\)")
_STAGE_PREFIX = re.compile(r"^(?:connect|subscribe|catch up|open mirror|reconcile)[\w ]* failed: ")
# The wire client's "runtimeState on default:/x at http://host:1: " in front of a reason.
_CALL_PREFIX = re.compile(r"^\w+ on .*? at https?://\S+?: ")


@dataclass(frozen=True, slots=True)
class PaneState:
    chip: str
    chip_tone: str
    # The role chip ("writer", "following …"); empty when the runtime has no role yet.
    role: str
    role_tone: str
    error: str | None
    actions: tuple[str, ...]
    empty_text: str
    # One line for the window's status bar.
    summary: str


def server_host(server_url: str | None) -> str:
    """'127.0.0.1:9' for 'http://127.0.0.1:9/' (what people call a server in a sentence)."""
    if not server_url:
        return "the server"
    parts = urlsplit(server_url)
    return parts.netloc or server_url


def plain_error(raw: str, *, host: str) -> str:
    """The runtime's error text as one sentence without exception reprs or encoded URLs."""
    lowered = raw.lower()
    if "damaged" in lowered:
        return _sentence(_decoded(raw))
    if "mirror ingest failed" in lowered:
        return _sentence("Writing the local mirror failed: " + _innermost(raw))
    if any(marker in lowered for marker in _NO_HOST):
        return f"Can't find the server {host}: no such host name."
    if any(marker in lowered for marker in _REFUSED):
        return f"Can't reach {host}: connection refused."
    if "http 401" in lowered:
        return f"{host} refused the token."
    status = _HTTP_STATUS.search(raw)
    if status is not None:
        code = int(status.group(1))
        if code == 404 or "html" in lowered:
            return f"{host} does not look like a stream server (HTTP {code})."
        return f"{host} answered with an error (HTTP {code})."
    if any(marker in lowered for marker in _TIMEOUT):
        return f"{host} did not answer in time."
    return _sentence(f"Problem with {host}: {_innermost(raw)}")


def _decoded(text: str) -> str:
    """Percent-encoded paths back to what the user typed, exception reprs to their message."""
    return _EXCEPTION_REPR.sub(lambda m: m.group(2), unquote(text))


def _innermost(raw: str) -> str:
    text = _decoded(raw)
    text = _CALL_PREFIX.sub("", _STAGE_PREFIX.sub("", text))
    # "runtimeState on ... at URL: HTTP batch request to URL failed: the reason" -> the reason.
    return text.rsplit(" failed: ", 1)[-1]


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def retry_text(connection: str, retry_in: float | None) -> str:
    if connection == "unauthorized":
        return "Edit the server's token, then press F5 or Retry now."
    if connection == "failed":
        return "Not retrying until you press Retry now (F5)."
    if retry_in is None or retry_in <= 0.5:
        return "Retrying now…"
    return f"Retrying in {math.ceil(retry_in)} s."


def role_words(status: RuntimeStatus, writer_pid: int | None) -> tuple[str, str]:
    if status.role == "leader":
        return "writer", "accent"
    if status.role == "follower":
        if writer_pid is not None:
            return f"following the writer in process {writer_pid}", "accent"
        return "following another Streamdesk window", "accent"
    return "", "muted"


def pane_state(
    status: RuntimeStatus,
    *,
    server_url: str | None,
    retry_in: float | None = None,
    writer_pid: int | None = None,
) -> PaneState:
    """Everything a pane shows about its connection, from the runtime's status."""
    host = server_host(server_url)
    role, role_tone = role_words(status, writer_pid)
    connection = status.connection
    if server_url is None:
        return PaneState(
            chip="offline mirror",
            chip_tone="muted",
            role="",
            role_tone="muted",
            error=None,
            actions=(),
            empty_text="This mirror file holds no events.",
            summary="Offline mirror (read-only)",
        )
    if status.role == "follower":
        return _follower_state(status, host, role, role_tone)
    chip, tone = _CHIPS.get(connection, (connection, "muted"))
    error: str | None = None
    actions: tuple[str, ...] = ()
    if connection in _ERROR_CONNECTIONS or (connection == "connecting" and status.last_error):
        problem = plain_error(status.last_error or "", host=host) if status.last_error else ""
        if connection == "unauthorized" and not problem.endswith("refused the token."):
            problem = f"{host} refused the token."
        if not problem:
            problem = f"Lost the connection to {host}."
        error = f"{problem} {retry_text(connection, retry_in)}"
        actions = (RETRY, EDIT_SERVER, WORK_OFFLINE)
        if connection == "connecting":
            chip, tone = "retrying…", "warn"
    if error is not None:
        empty = "No events are stored locally yet."
    elif connection == "subscribed":
        empty = "The mirror is ready; no events are stored locally yet."
    elif connection in ("connecting", "subscribing", "catching-up"):
        empty = f"Connecting to {host}…"
    else:
        empty = f"No events are stored locally; the stream is {chip}."
    summary = f"{chip[:1].upper()}{chip[1:]} · {host}" + (f" · {role}" if role else "")
    return PaneState(chip, tone, role, role_tone, error, actions, empty, summary)


def _follower_state(status: RuntimeStatus, host: str, role: str, role_tone: str) -> PaneState:
    reachable = status.connection == "subscribed"
    unauthorized = status.connection == "unauthorized"
    if reachable:
        chip, tone, error = "server reachable", "ok", None
    elif unauthorized:
        chip, tone = "token refused", "error"
        error = f"{host} refused the token. Edit the server's token."
    elif status.connection == "reconnecting":
        chip, tone = "server unreachable", "warn"
        detail = plain_error(status.last_error, host=host) if status.last_error else ""
        error = detail or f"Can't reach {host}."
    else:
        chip, tone, error = "checking the server…", "busy", None
    empty = (
        "Another Streamdesk window writes this mirror; waiting for its first events."
        if status.event_count == 0
        else "No events are stored locally yet."
    )
    actions = (EDIT_SERVER,) if unauthorized else ()
    summary = f"{role[:1].upper()}{role[1:]} · {host} {chip}"
    return PaneState(chip, tone, role, role_tone, error, actions, empty, summary)
