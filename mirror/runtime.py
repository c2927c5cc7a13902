"""The mirror runtime contract the UI and the CLI use (docs/architecture.md).

Public API:

- ``RuntimeRegistry(data_dir, *, loop=None, timing=None, keep_archives=3)``: one per process; one
  ``StreamRuntime`` per mirror file. ``acquire(server_url, namespace, path, *, token=None)``
  (``server_url`` is validated and made canonical with ``mirror.paths.validate_server_url``,
  raising ``ServerUrlError``, so every spelling of one server shares one runtime; a token
  given replaces the runtime's; ``server_url`` None: offline, the newest existing mirror of that
  stream, no network),
  ``open_file(mirror_file)`` (offline, any mirror file or archive), ``list_mirrors()`` (each
  live mirror carries its ``archives``), ``aclose()``, ``install_id`` (the per-install UUID
  stored in the data directory). ``keep_archives``: how many archived incarnations each stream
  keeps after resets (``mirror.archive``).
- Re-exported: ``StreamRuntime``, ``RuntimeStatus``, ``CatchupProgress``, ``MirrorInfo``,
  ``RuntimeTiming``, ``ReconnectRecord``, ``RuntimeReader`` (a runtime's ``reader``),
  ``MirrorReader``, ``EventRow``, ``FeedRow``, and the errors of ``mirror.errors``
  (``MirrorError``, ``OfflineError``, ``RuntimeClosedError``, ``NotTheWriterError``).

The subscription key is ``<namespace>:<install id>:mirror``: every process of one install shares
one server-side subscription per stream, so a new writer replaces the old one's connection.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from mirror.archive import DEFAULT_KEEP_ARCHIVES
from mirror.errors import MirrorError, NotTheWriterError, OfflineError, RuntimeClosedError
from mirror.mirror_files import install_id, list_mirrors, read_info
from mirror.paths import mirror_file, validate_server_url
from mirror.reader import EventRow, FeedRow, MirrorReader
from mirror.runtime_reader import RuntimeReader
from mirror.runtime_status import (
    CatchupProgress,
    MirrorInfo,
    ReconnectRecord,
    RuntimeStatus,
    RuntimeTiming,
)
from mirror.stream_runtime import StreamRuntime
from wire.paths import DEFAULT_NAMESPACE, normalize_path

__all__ = [
    "CatchupProgress",
    "EventRow",
    "FeedRow",
    "MirrorError",
    "MirrorInfo",
    "MirrorReader",
    "NotTheWriterError",
    "OfflineError",
    "ReconnectRecord",
    "RuntimeClosedError",
    "RuntimeReader",
    "RuntimeRegistry",
    "RuntimeStatus",
    "RuntimeTiming",
    "StreamRuntime",
]

PROCESSOR_NAME = "mirror"
# The identity a mirror of a server-less stream would have (never dialled).
OFFLINE_SERVER = "offline"

_Key = tuple[str, ...]


class RuntimeRegistry:
    def __init__(
        self,
        data_dir: Path | str,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        timing: RuntimeTiming | None = None,
        keep_archives: int = DEFAULT_KEEP_ARCHIVES,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.timing = timing or RuntimeTiming()
        self.keep_archives = keep_archives
        self._loop = loop
        self._runtimes: dict[_Key, StreamRuntime] = {}
        self._install_id: str | None = None

    @property
    def install_id(self) -> str:
        if self._install_id is None:
            self._install_id = install_id(self.data_dir)
        return self._install_id

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def acquire(
        self,
        server_url: str | None,
        namespace: str,
        path: str,
        *,
        token: str | None = None,
    ) -> StreamRuntime:
        """The runtime of one stream (shared); ``retain()`` it to start it.

        Raises ``ServerUrlError`` for a server URL that cannot be dialled and ``PathError`` for
        an invalid stream path. A ``token`` given replaces the shared runtime's token (used from
        its next call or dial: ``reconnect()`` after an ``unauthorized`` status)."""
        namespace = namespace or DEFAULT_NAMESPACE
        path = normalize_path(path)
        if server_url is None:
            return self._acquire_offline(namespace, path)
        server_url = validate_server_url(server_url)
        file = mirror_file(self.data_dir, server_url, namespace, path)
        # Keyed by file: the one thing two runtimes must never share.
        key: _Key = ("online", str(file))
        existing = self._runtimes.get(key)
        if existing is not None and not existing.is_closed:
            if token is not None:
                existing.set_token(token)
            return existing
        return self._create(key, server_url, namespace, path, file, token)

    def _acquire_offline(self, namespace: str, path: str) -> StreamRuntime:
        key: _Key = ("offline", namespace, path)
        existing = self._runtimes.get(key)
        if existing is not None and not existing.is_closed:
            return existing
        file = self._offline_file(namespace, path)
        return self._create(key, None, namespace, path, file, None)

    def open_file(self, mirror_file: Path) -> StreamRuntime:
        """An offline runtime over any mirror file (its stream read from the file itself)."""
        file = Path(mirror_file).expanduser().resolve()
        key: _Key = ("file", str(file))
        existing = self._runtimes.get(key)
        if existing is not None and not existing.is_closed:
            return existing
        info = read_info(file)
        namespace = info.namespace if info is not None else DEFAULT_NAMESPACE
        path = info.path if info is not None else "/"
        return self._create(key, None, namespace, path, file, None)

    def list_mirrors(self) -> list[MirrorInfo]:
        return list_mirrors(self.data_dir)

    async def aclose(self) -> None:
        runtimes = list(self._runtimes.values())
        self._runtimes.clear()
        await asyncio.gather(*(runtime.aclose() for runtime in runtimes), return_exceptions=True)

    def _create(
        self,
        key: _Key,
        server_url: str | None,
        namespace: str,
        path: str,
        file: Path,
        token: str | None,
    ) -> StreamRuntime:
        runtime = StreamRuntime(
            server_url=server_url,
            namespace=namespace,
            path=path,
            mirror_file=file,
            token=token,
            subscription_key=f"{namespace}:{self.install_id}:{PROCESSOR_NAME}",
            timing=self.timing,
            loop=self._event_loop(),
            on_closed=lambda closed: self._forget(key, closed),
            keep_archives=self.keep_archives,
        )
        self._runtimes[key] = runtime
        return runtime

    def _forget(self, key: _Key, runtime: StreamRuntime) -> None:
        if self._runtimes.get(key) is runtime:
            del self._runtimes[key]

    def _offline_file(self, namespace: str, path: str) -> Path:
        """The most recently written mirror of (namespace, path), from any server."""
        candidates = [
            info.file
            for info in list_mirrors(self.data_dir)
            if info.namespace == namespace and info.path == path and info.archived_at is None
        ]
        if not candidates:
            return mirror_file(self.data_dir, OFFLINE_SERVER, namespace, path)
        return max(candidates, key=lambda file: file.stat().st_mtime)
