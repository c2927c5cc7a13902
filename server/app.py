"""The ASGI app: `/api/streams?path=&namespace=` as a Cap'n Web WebSocket and HTTP batch endpoint.

Optional bearer-token auth guards both before any RPC (401 with a plain-text reason). A WebSocket
refused this way gets the 401 as the HTTP answer to its upgrade request.
"""

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Final

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from server.engine import DEFAULT_DELIVERY_BATCH_LIMIT
from server.outbound import Binding
from server.registry import StreamRegistry
from server.rpc_target import StreamRpcTarget
from wire.http_batch import handle_http_batch
from wire.paths import PathError, normalize_path
from wire.ws import serve_ws

logger = logging.getLogger(__name__)

STREAMS_ROUTE: Final = "/api/streams"
MAX_MESSAGE_SIZE: Final = 32 * 1024 * 1024
DEFAULT_NAMESPACE: Final = "default"
# WebSocket close code when the stream behind a session was killed or reset (1012 = restart).
STREAM_RESTARTED_CLOSE_CODE: Final = 1012
# A stream with no subscriber that no request asked for in this long is evicted (registry).
DEFAULT_IDLE_ENGINE_SECONDS: Final = 600.0


def create_app(
    data_dir: Path,
    token: str | None = None,
    *,
    delivery_batch_limit: int = DEFAULT_DELIVERY_BATCH_LIMIT,
    max_message_size: int = MAX_MESSAGE_SIZE,
    idle_engine_seconds: float = DEFAULT_IDLE_ENGINE_SECONDS,
    bindings: Mapping[str, Binding] | None = None,
    idle_teardown: float | None = None,
) -> Starlette:
    """The stream server app over `data_dir`. Takes the data directory's lock at once (raises
    `server.registry.DataDirInUse` if another server holds it); the app's shutdown releases it,
    and so does `app.state.registry.close()`. While it runs, streams idle for
    `idle_engine_seconds` are evicted (`StreamRegistry.evict_idle`). `bindings` and
    `idle_teardown` configure outbound subscriptions (`StreamRegistry`)."""
    registry = StreamRegistry(
        data_dir,
        delivery_batch_limit=delivery_batch_limit,
        bindings=bindings,
        idle_teardown=idle_teardown,
    )

    async def stream_socket(websocket: WebSocket) -> None:
        try:
            namespace, path = _stream_address(websocket.query_params)
        except PathError as exc:
            await websocket.send_denial_response(PlainTextResponse(str(exc), status_code=400))
            return
        await websocket.accept()

        async def close_transport() -> None:
            await websocket.close(STREAM_RESTARTED_CLOSE_CODE, "stream killed or reset")

        target = StreamRpcTarget(registry, namespace, path, close_transport=close_transport)
        # The hook is private so that the peer cannot call it over RPC.
        await serve_ws(
            websocket,
            target,
            max_message_size=max_message_size,
            on_closed=target._session_closed,
        )

    async def stream_batch(request: Request) -> Response:
        try:
            namespace, path = _stream_address(request.query_params)
        except PathError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_message_size:
                    return PlainTextResponse(
                        f"request body exceeds the limit of {max_message_size} bytes",
                        status_code=413,
                    )
        except ClientDisconnect:
            # The caller went away mid-request (e.g. an app quitting); nothing was run.
            logger.debug("HTTP batch client disconnected before sending its whole body")
            return Response(status_code=400)
        try:
            text = body.decode()
        except UnicodeDecodeError:
            return PlainTextResponse("request body is not UTF-8 text", status_code=400)
        target = StreamRpcTarget(registry, namespace, path)
        answer = await handle_http_batch(text, target, max_message_size=max_message_size)
        return PlainTextResponse(answer)

    async def evict_idle_engines() -> None:
        while True:
            await asyncio.sleep(min(60.0, idle_engine_seconds / 2))
            try:
                registry.evict_idle(idle_engine_seconds)
            except Exception:
                # A stream that failed to close stays evicted; the sweeps go on.
                logger.exception("evicting idle streams failed")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(evict_idle_engines(), name="evict idle streams")
        try:
            yield
        finally:
            sweeper.cancel()
            registry.close()

    app = Starlette(
        routes=[
            WebSocketRoute(STREAMS_ROUTE, stream_socket),
            Route(STREAMS_ROUTE, stream_batch, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.registry = registry
    if token:
        app.add_middleware(BearerTokenAuth, token=token)
    return app


class BearerTokenAuth:
    """Refuse HTTP requests and WebSocket upgrades without `Authorization: Bearer <token>`."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        has_header = any(name == b"authorization" for name, _ in scope["headers"])
        reason = "wrong bearer token" if has_header else "missing bearer token"
        response = PlainTextResponse(
            f"401 Unauthorized: {reason}. Send 'Authorization: Bearer <token>' with the token "
            "the server was started with (--token or STREAMDESK_TOKEN).",
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        if scope["type"] == "http":
            await response(scope, receive, send)
            return
        websocket = WebSocket(scope, receive, send)
        if "websocket.http.response" in scope.get("extensions", {}):
            await websocket.send_denial_response(response)
        else:
            await websocket.close(code=1008, reason=f"401 Unauthorized: {reason}")

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                return hmac.compare_digest(value, self._expected)
        return False


def _stream_address(query: Mapping[str, str]) -> tuple[str, str]:
    """(namespace, normalised path) from `?path=&namespace=`; blank path is the root."""
    namespace = query.get("namespace", "").strip() or DEFAULT_NAMESPACE
    return namespace, normalize_path(query.get("path", ""))
