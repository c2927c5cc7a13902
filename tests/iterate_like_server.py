"""A stream server that answers kill() and reset() as iterate's deployed server does
(PROTOCOL.md §9): it does the work, then rejects the call with ``Error: kill requested``.

The streams are the embedded server's own (``StreamRegistry`` + ``StreamRpcTarget``), served
through wire's ``handle_http_batch`` and ``serve_ws`` on uvicorn at a free loopback port, so a
real runtime can mirror them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from asgi_support import serve_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from server.registry import StreamRegistry
from server.rpc_target import StreamRpcTarget
from wire.errors import RemoteError
from wire.http_batch import handle_http_batch
from wire.paths import normalize_path
from wire.ws import serve_ws

KILL_REQUESTED = "kill requested"


class IterateLikeStream(StreamRpcTarget):
    """The embedded server's stream, but kill and reset reject after doing their work."""

    def kill(self, *args: Any) -> Any:
        super().kill(*args)
        raise RemoteError("Error", KILL_REQUESTED)

    def reset(self, *args: Any) -> Any:
        super().reset(*args)
        raise RemoteError("Error", KILL_REQUESTED)


def iterate_like_app(data_dir: Path) -> Starlette:
    registry = StreamRegistry(data_dir)

    def address(request: Request | WebSocket) -> tuple[str, str]:
        query = request.query_params
        return query.get("namespace") or "default", normalize_path(query.get("path") or "/")

    async def stream_socket(websocket: WebSocket) -> None:
        namespace, path = address(websocket)
        await websocket.accept()

        async def close_transport() -> None:
            await websocket.close(1012, "stream killed or reset")

        target = IterateLikeStream(registry, namespace, path, close_transport=close_transport)
        await serve_ws(websocket, target)

    async def stream_batch(request: Request) -> Response:
        namespace, path = address(request)
        body = (await request.body()).decode()
        target = IterateLikeStream(registry, namespace, path)
        return PlainTextResponse(await handle_http_batch(body, target))

    app = Starlette(
        routes=[
            WebSocketRoute("/api/streams", stream_socket),
            Route("/api/streams", stream_batch, methods=["POST"]),
        ]
    )
    app.state.registry = registry
    return app


@asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    """Run ``app`` on this loop at 127.0.0.1 on a free port; yield its base URL. Closes the
    app's stream registry, if it has one, afterwards."""
    try:
        async with serve_app(app) as url:
            yield url
    finally:
        registry = getattr(app.state, "registry", None)
        if registry is not None:
            registry.close()


@contextmanager
def serve_in_thread(app: Starlette) -> Iterator[str]:
    """``serve(app)`` on a loop of its own in a background thread (for Qt tests)."""
    ready: list[str] = []
    started = threading.Event()
    stop = threading.Event()

    async def run() -> None:
        async with serve(app) as url:
            ready.append(url)
            started.set()
            await asyncio.to_thread(stop.wait)

    thread = threading.Thread(target=lambda: asyncio.run(run()), name="iterate-like server")
    thread.start()
    try:
        assert started.wait(15), "the iterate-like server did not start"
        yield ready[0]
    finally:
        stop.set()
        thread.join(15)
