"""Cap'n Web over WebSocket: one text frame per message.

`connect_ws` is the client (websockets); `serve_ws` runs the server side over any object with
`async send_text(str)` / `async receive_text() -> str` (Starlette's WebSocket fits).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Protocol

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from wire.errors import ConnectionClosed, HttpStatusError, ProtocolError
from wire.session import DEFAULT_MAX_MESSAGE_SIZE, RemoteStub, RpcSession

__all__ = [
    "OnClosed",
    "ServerWebSocket",
    "WsSession",
    "being_cancelled",
    "connect_ws",
    "serve_ws",
]

logger = logging.getLogger(__name__)


# Told why a served session ended, once its socket is closed.
OnClosed = Callable[[BaseException], Awaitable[None] | None]


class ServerWebSocket(Protocol):
    async def send_text(self, data: str) -> None: ...

    async def receive_text(self) -> str: ...


class WsSession:
    """A client WebSocket session: `.main` is the peer's main object (import 0)."""

    def __init__(self, session: RpcSession, connection: ClientConnection) -> None:
        self.session = session
        self._connection = connection
        self._task = asyncio.create_task(self._run())

    @property
    def main(self) -> RemoteStub:
        return self.session.main

    @property
    def closed(self) -> asyncio.Future[BaseException]:
        """Resolves with the reason (an exception instance) once the session has ended."""
        return self.session.closed

    async def _run(self) -> None:
        conn = self._connection

        async def recv() -> str:
            try:
                message = await conn.recv()
            except websockets.ConnectionClosed as exc:
                raise ConnectionClosed(f"WebSocket closed: {_describe_close(exc)}", exc) from exc
            if not isinstance(message, str):
                raise ProtocolError("received a binary WebSocket frame; expected text")
            return message

        try:
            await self.session.run(recv, conn.send)
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

    async def aclose(self) -> None:
        """Close the session and the socket; pending calls fail with `ConnectionClosed`.
        Cancelled while the closing handshake waits (a peer that stopped answering), it drops
        the socket at once and stays cancelled."""
        self.session.close(ConnectionClosed("RPC session closed by this side"))
        try:
            await asyncio.shield(self._task)
        except asyncio.CancelledError:
            if being_cancelled():
                self.abort()
                raise
        except Exception:
            # How the run ended is the session's `closed` reason, not the closer's concern.
            pass

    def abort(self) -> None:
        """Close the session and drop the socket now, with no closing handshake."""
        self.session.close(ConnectionClosed("RPC session closed by this side"))
        self._connection.transport.abort()

    async def __aenter__(self) -> WsSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def connect_ws(
    url: str,
    *,
    token: str | None = None,
    main: object | None = None,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    open_timeout: float | None = 10.0,
    compression: bool = False,
) -> WsSession:
    """Open a WebSocket Cap'n Web session (`ws://` or `wss://` URL).

    Raises `HttpStatusError` when the server refuses the upgrade (e.g. 401 for a missing or
    wrong token) and `ConnectionClosed` when it cannot be reached.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        connection = await websockets.connect(
            url,
            additional_headers=headers,
            max_size=max_message_size,
            open_timeout=open_timeout,
            compression="deflate" if compression else None,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise HttpStatusError(
            status, f"WebSocket upgrade refused by {url}: HTTP {status}"
        ) from None
    except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
        raise ConnectionClosed(f"cannot open WebSocket to {url}: {exc}", exc) from exc
    session = RpcSession(main, max_message_size=max_message_size)
    return WsSession(session, connection)


async def serve_ws(
    websocket: ServerWebSocket,
    main: object,
    *,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    on_closed: OnClosed | None = None,
) -> BaseException:
    """Serve `main` over an accepted WebSocket until the session ends; return the reason.

    Afterwards the socket is closed and `on_closed(reason)` (sync or async) is called.
    """
    session = RpcSession(main, max_message_size=max_message_size)

    async def recv() -> str:
        try:
            return await websocket.receive_text()
        except (KeyError, TypeError) as exc:  # Starlette: a binary frame has no "text"
            raise ProtocolError("received a non-text WebSocket message; expected text") from exc
        except Exception as exc:
            code = getattr(exc, "code", None)  # Starlette's WebSocketDisconnect
            if code is None:
                raise
            detail = getattr(exc, "reason", "") or ""
            message = f"WebSocket closed: code {code}" + (f" ({detail})" if detail else "")
            raise ConnectionClosed(message, exc) from exc

    try:
        reason = await session.run(recv, websocket.send_text)
    finally:
        close = getattr(websocket, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()
    if on_closed is not None:
        try:
            result = on_closed(reason)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("on_closed callback of a WebSocket session failed")
    return reason


def being_cancelled() -> bool:
    """Whether the running task has been asked to stop (so it must not wait on a peer)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _describe_close(exc: websockets.ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "connection lost without a close frame"
    return f"code {frame.code}" + (f" ({frame.reason})" if frame.reason else "")
