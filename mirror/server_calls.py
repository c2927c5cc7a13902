"""``ServerCalls``: a runtime's one-shot calls to its server over HTTP batch, and their client.

Public API:

- ``OfflineError``: a server call on a runtime that has no server.
- ``ServerCalls(server_url, namespace, path, token, *, is_closed, owner)``: ``client()`` (the
  ``StreamClient`` every call and dial of the runtime uses; ``OfflineError`` without a server,
  ``RuntimeError`` naming ``owner`` once ``is_closed()``), ``set_token(token)`` (used from the
  next call or dial on), ``await append(event)``, ``await append_batch(events)``,
  ``await runtime_state()``, ``await child_paths(path)``, ``await aclose()``. None of them
  touches the runtime's connection or its dial timer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from mirror.errors import OfflineError, RuntimeClosedError
from wire.stream_client import StreamClient

HTTP_TIMEOUT_S = 30.0


class ServerCalls:
    def __init__(
        self,
        server_url: str | None,
        namespace: str,
        path: str,
        token: str | None,
        *,
        is_closed: Callable[[], bool],
        owner: str,
    ) -> None:
        self._server_url = server_url
        self._namespace = namespace
        self._path = path
        self._token = token
        self._is_closed = is_closed
        self._owner = owner
        self._http: httpx.AsyncClient | None = None
        self._client: StreamClient | None = None

    def client(self) -> StreamClient:
        if self._server_url is None:
            raise OfflineError(f"{self._path} is open offline: there is no server to call")
        if self._is_closed():
            raise RuntimeClosedError(f"{self._owner} is closed")
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=HTTP_TIMEOUT_S)
        if self._client is None:
            self._client = StreamClient(
                self._server_url, self._path, self._namespace, self._token, http_client=self._http
            )
        return self._client

    def set_token(self, token: str | None) -> None:
        if token != self._token:
            self._token = token
            self._client = None

    async def append(self, event: dict[str, Any]) -> dict[str, Any]:
        return dict(await self.client().append(event))

    async def append_batch(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [dict(committed) for committed in await self.client().append_batch(events)]

    async def runtime_state(self) -> dict[str, Any]:
        return dict(await self.client().runtime_state())

    async def child_paths(self, path: str) -> list[str]:
        client = self.client()
        other = StreamClient(
            client.base_url, path, self._namespace, self._token, http_client=self._http
        )
        state = await other.runtime_state()
        core = state.get("coreProcessorState") or {}
        return [str(child) for child in core.get("childPaths") or []]

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
