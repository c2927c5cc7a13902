"""Stream path rules and endpoint URLs (PROTOCOL.md §1 and §3)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

__all__ = [
    "DEFAULT_NAMESPACE",
    "PathError",
    "ServerUrlError",
    "normalize_path",
    "parse_stream_url",
    "resolve_stream_path",
    "stream_url",
    "validate_server_url",
]

DEFAULT_NAMESPACE = "default"
STREAMS_ENDPOINT = "/api/streams"
# A server may be given by its WebSocket address; one-shot calls need the HTTP one.
_SERVER_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
_DEFAULT_PORTS = {"http": 80, "https": 443}


class PathError(ValueError):
    """An invalid stream path, or a relative path that escapes the root."""


class ServerUrlError(ValueError):
    """A stream server URL that cannot be dialled (the message says why)."""


def validate_server_url(text: str) -> str:
    """The canonical base URL of a stream server: ``http(s)://host[:port][/prefix]``.

    ``ws``/``wss`` are read as ``http``/``https``; scheme and host are lower-cased, a default
    port and trailing ``/`` dropped. Raises ``ServerUrlError`` when the scheme is not one of
    http, https, ws, wss, the host is missing, the port is invalid, or the URL carries
    credentials (use a token), a query or a fragment.
    """
    raw = text.strip()
    # Error messages never echo credentials (``user:password@``).
    shown = re.sub(r"[^/?#]*@", "...@", raw, count=1)
    example = "e.g. http://127.0.0.1:8787"
    if not raw:
        raise ServerUrlError(f"the server URL is empty ({example})")
    parts = urlsplit(raw)
    scheme = _SERVER_SCHEMES.get(parts.scheme.lower())
    if scheme is None or not raw.lower().startswith(f"{parts.scheme.lower()}://"):
        raise ServerUrlError(
            f'invalid server URL "{shown}": it must start with http://, https://, ws:// or '
            f"wss:// ({example})"
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise ServerUrlError(f'invalid server URL "{shown}": the host is missing ({example})')
    try:
        port = parts.port
    except ValueError:
        raise ServerUrlError(f'invalid server URL "{shown}": the port is not valid') from None
    if parts.username is not None or parts.password is not None:
        raise ServerUrlError(
            f'invalid server URL "{shown}": credentials do not belong in the URL; give a '
            "bearer token instead"
        )
    if parts.query or parts.fragment or raw.endswith(("?", "#")):
        raise ServerUrlError(
            f'invalid server URL "{shown}": a query or fragment is not allowed; give the '
            f"server's root ({example}) and the stream path separately"
        )
    if port == _DEFAULT_PORTS[scheme]:
        port = None
    host_part = f"[{host}]" if ":" in host else host
    port_part = "" if port is None else f":{port}"
    return f"{scheme}://{host_part}{port_part}{parts.path.rstrip('/')}"


def normalize_path(path: str) -> str:
    """Trim, add the leading `/`, treat empty as `/`; a `:` is invalid."""
    p = path.strip()
    if ":" in p:
        raise PathError(f'invalid stream path "{path}": ":" is not allowed')
    if not p:
        return "/"
    return p if p.startswith("/") else "/" + p


def resolve_stream_path(base: str, stream_path: str) -> str:
    """Resolve an append's `streamPath` against the current stream path.

    A leading `/` is absolute; otherwise relative to `base`. Empty and `.` segments are ignored,
    `..` pops one segment, and popping above the root is an error.
    """
    segments = [] if stream_path.startswith("/") else [s for s in base.split("/") if s]
    for seg in stream_path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if not segments:
                raise PathError(
                    f'streamPath "{stream_path}" escapes the stream root (resolved from "{base}")'
                )
            segments.pop()
        else:
            segments.append(seg)
    return "/" + "/".join(segments)


def stream_url(
    base_url: str, path: str, namespace: str = DEFAULT_NAMESPACE, ws: bool = False
) -> str:
    """`<base>/api/streams?path=<path>[&namespace=<ns>]`; `ws=True` gives the ws:// form."""
    parts = urlsplit(base_url)
    scheme = parts.scheme
    if ws:
        scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
    else:
        scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    query = [("path", normalize_path(path))]
    if namespace != DEFAULT_NAMESPACE:
        query.append(("namespace", namespace))
    prefix = parts.path.rstrip("/")
    return urlunsplit(
        (scheme, parts.netloc, prefix + STREAMS_ENDPOINT, urlencode(query, quote_via=quote), "")
    )


def parse_stream_url(url: str) -> tuple[str, str]:
    """The `(namespace, path)` an endpoint URL addresses (missing path: `/`)."""
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    namespace = (query.get("namespace") or [""])[0] or DEFAULT_NAMESPACE
    return namespace, normalize_path((query.get("path") or [""])[0])
