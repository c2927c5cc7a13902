"""Where mirror files live: the ONE place that builds a mirror file name.

Public API:

- ``default_data_dir() -> Path``: the per-user data directory (platformdirs), e.g.
  ``~/.local/share/streamdesk`` on Linux. Not created here.
- ``mirror_file(data_dir, server_url, namespace, path) -> Path``:
  ``<data_dir>/mirrors/<server-slug>/<namespace-dir>/stream-<hash>-<last-segment>.sqlite3``.
  Directories are not created here (``mirror.db.MirrorDb.open`` does that).
- ``writer_lock_file(mirror_path, schema_version=SCHEMA_VERSION) -> Path``: the cross-process
  writer-lock file beside the mirror; its name carries the schema version, so a process running
  another schema never waits behind (or blocks) this one.
- ``archive_dir(mirror_path) -> Path``: ``<stream file stem>.archives/`` beside the mirror, where
  earlier incarnations of the stream are kept after a reset; ``archive_file(mirror_path,
  incarnation) -> Path``: ``incarnation-<createdAt as 20261205T142614.123Z>.sqlite3`` in it
  (``incarnation-unknown-<now>`` when the mirror never recorded one). No archive ever matches
  ``MIRROR_FILES_GLOB`` (they sit one level deeper); ``ARCHIVE_DIRS_GLOB`` matches the folders.
- ``server_slug(server_url)``, ``namespace_dir_name(namespace)``, ``stream_file_name(path)``:
  the pieces, exposed for listing local mirrors.
- ``MIRROR_FILES_GLOB``: the pattern, relative to ``<data_dir>/mirrors``, that matches every
  mirror file; ``guess_stream(file) -> (namespace, path)``: the best guess of a mirror file's
  stream from its name and directory alone (for files that do not record their identity; the
  name keeps only the path's last segment, sanitised, so nested paths are guessed wrong).
- Re-exported from ``wire.paths`` for the UI (which never imports wire): ``normalize_path``,
  ``PathError``, ``DEFAULT_NAMESPACE``, and ``validate_server_url(text) -> str`` (the canonical
  ``http(s)`` URL of a server, or ``ServerUrlError``, a ``ValueError``, saying what is wrong).

Stream paths are normalised with ``wire.paths.normalize_path`` (PROTOCOL.md §1), so ``a``,
``/a`` and `` /a `` share a file; a path the protocol rejects (one with ``:``) raises
``wire.paths.PathError``.

Every component is made of ``[a-z0-9._-]`` only, never starts with a dot, and has a bounded
length, so no input (``..``, ``/``, ``\\``, NUL, very long or non-ASCII strings, Windows device
names) can escape the data directory or produce an unusable name. Whenever a component had to be
changed to become safe, a hash of the original is appended so two different inputs never share a
file; the stream file always carries a hash of the full normalised path.

``server_url`` is the server's identity, not necessarily a live address: the embedded server
listens on a new port every start, so callers pass a stable identity for it (for example
``"embedded"``). URLs are normalised first (scheme and host lower-cased, ``ws``/``wss`` read as
``http``/``https``, default ports, credentials, query and fragment dropped), so equivalent
spellings share one mirror.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

from mirror.schema import SCHEMA_VERSION

# The protocol's stream-path and server-URL rules, re-exported for the UI (which never imports
# wire).
from wire.paths import DEFAULT_NAMESPACE as DEFAULT_NAMESPACE
from wire.paths import PathError as PathError
from wire.paths import ServerUrlError as ServerUrlError
from wire.paths import normalize_path as normalize_path
from wire.paths import validate_server_url as validate_server_url

APP_NAME = "streamdesk"
MIRRORS_DIR = "mirrors"
_STREAM_FILE_PREFIX = "stream-"
_STREAM_FILE_SUFFIX = ".sqlite3"
_ROOT_SEGMENT = "root"
_ARCHIVES = ".archives"
ARCHIVE_PREFIX = "incarnation-"
# <server-slug>/<namespace-dir>/<stream file>, relative to <data_dir>/mirrors.
MIRROR_FILES_GLOB = f"*/*/{_STREAM_FILE_PREFIX}*{_STREAM_FILE_SUFFIX}"
ARCHIVE_DIRS_GLOB = f"*/*/{_STREAM_FILE_PREFIX}*{_ARCHIVES}"
_STREAM_FILE_NAME = re.compile(
    rf"{re.escape(_STREAM_FILE_PREFIX)}[0-9a-f]{{16}}-(?P<segment>.+){re.escape(_STREAM_FILE_SUFFIX)}"
)

_SERVER_READABLE_MAX = 40
_NAMESPACE_MAX = 48
_SEGMENT_MAX = 24
_UNSAFE = re.compile(r"[^a-z0-9._-]+")
_NOT_STAMP = re.compile(r"[^0-9A-Za-z.]+")
_SAFE_NAMESPACE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_WINDOWS_DEVICE_NAMES = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)
_SCHEME_ALIASES = {"ws": "http", "wss": "https"}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def default_data_dir() -> Path:
    """The per-user data directory for Streamdesk (platform specific, not created)."""
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def _digest(text: str, length: int) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()[
        :length
    ]


def _sanitize(text: str, max_length: int) -> str:
    """Lower-case, replace runs of unsafe characters by ``-``, trim, bound the length."""
    cleaned = _UNSAFE.sub("-", text.lower()).strip("-.")
    return cleaned[:max_length].strip("-.")


def _normalize_server(server_url: str) -> tuple[str, str]:
    """(canonical identity used for hashing, readable part of the slug)."""
    text = server_url.strip()
    parts = urlsplit(text)
    if not parts.scheme or not parts.netloc:
        return text, text
    scheme = _SCHEME_ALIASES.get(parts.scheme.lower(), parts.scheme.lower())
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port == _DEFAULT_PORTS.get(scheme):
        port = None
    base_path = parts.path.rstrip("/")
    host_part = f"[{host}]" if ":" in host else host
    canonical = f"{scheme}://{host_part}{'' if port is None else f':{port}'}{base_path}"
    readable = host if port is None else f"{host}-{port}"
    return canonical, readable


def server_slug(server_url: str) -> str:
    """``<readable host[-port]>-<hash8>`` for a server URL or any other server identity."""
    canonical, readable = _normalize_server(server_url)
    return f"{_sanitize(readable, _SERVER_READABLE_MAX) or 'server'}-{_digest(canonical, 8)}"


def namespace_dir_name(namespace: str) -> str:
    """The namespace itself when already safe (``default``), else ``<sanitized>-<hash8>``."""
    if (
        len(namespace) <= _NAMESPACE_MAX
        and _SAFE_NAMESPACE.fullmatch(namespace)
        and namespace not in _WINDOWS_DEVICE_NAMES
    ):
        return namespace
    return f"{_sanitize(namespace, _NAMESPACE_MAX) or 'ns'}-{_digest(namespace, 8)}"


def stream_file_name(path: str) -> str:
    """``stream-<hash16>-<last segment>.sqlite3``; the root stream's segment is ``root``."""
    normalized = normalize_path(path)
    segments = [segment for segment in normalized.split("/") if segment]
    segment = _sanitize(segments[-1], _SEGMENT_MAX) if segments else _ROOT_SEGMENT
    return f"{_STREAM_FILE_PREFIX}{_digest(normalized, 16)}-{segment or 'x'}{_STREAM_FILE_SUFFIX}"


def guess_stream(file: Path) -> tuple[str, str]:
    """(namespace, path) guessed from a mirror file's name and its namespace directory."""
    match = _STREAM_FILE_NAME.fullmatch(file.name)
    segment = match.group("segment") if match else file.stem
    # A safe namespace (the usual case) is its own directory name.
    namespace = file.parent.name or DEFAULT_NAMESPACE
    return namespace, "/" if segment == _ROOT_SEGMENT else f"/{segment}"


def mirror_file(data_dir: Path | str, server_url: str, namespace: str, path: str) -> Path:
    """The mirror file for one stream of one server, under ``data_dir``."""
    return (
        Path(data_dir)
        / MIRRORS_DIR
        / server_slug(server_url)
        / namespace_dir_name(namespace)
        / stream_file_name(path)
    )


def archive_dir(mirror_path: Path) -> Path:
    """The folder beside ``mirror_path`` that holds its archived incarnations."""
    return mirror_path.with_name(mirror_path.name.removesuffix(_STREAM_FILE_SUFFIX) + _ARCHIVES)


def archive_file(mirror_path: Path, incarnation: str | None) -> Path:
    """Where the mirror of incarnation ``incarnation`` (a ``createdAt``) is archived."""
    if incarnation is None:
        stamp = "unknown-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    else:
        # ``2026-12-05T14:26:14.123Z`` -> ``20261205T142614.123Z``: sortable, filename-safe.
        stamp = _NOT_STAMP.sub("", incarnation)[:40].strip(".") or "x"
    return archive_dir(mirror_path) / f"{ARCHIVE_PREFIX}{stamp}{_STREAM_FILE_SUFFIX}"


def writer_lock_file(mirror_path: Path, schema_version: int = SCHEMA_VERSION) -> Path:
    """The writer-election lock file beside ``mirror_path``, named with the schema version."""
    return mirror_path.with_name(f"{mirror_path.name}.writer-v{schema_version}.lock")
