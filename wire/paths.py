"""Stream path rules and endpoint URLs (PROTOCOL.md §1 and §3)."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

__all__ = [
    "DEFAULT_NAMESPACE",
    "PathError",
    "normalize_path",
    "parse_stream_url",
    "resolve_stream_path",
    "stream_url",
]

DEFAULT_NAMESPACE = "default"
STREAMS_ENDPOINT = "/api/streams"


class PathError(ValueError):
    """An invalid stream path, or a relative path that escapes the root."""


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
