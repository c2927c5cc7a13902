"""A processor runner reachable at a Cap'n Web WebSocket URL, for outbound subscriptions: the
stream server dials `ws://host:port/` and calls the runner's `requestStreamSubscription`.

`listen(runner, host, port) -> Listener` (`.url`, `await .close()`); each accepted connection is
one Cap'n Web session served by `wire.ws.serve_ws` with the runner as its main object.
"""

import logging
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed as SocketClosed

from wire.errors import ConnectionClosed
from wire.ws import serve_ws

logger = logging.getLogger(__name__)


class _Socket:
    """`serve_ws`'s socket interface over a websockets server connection."""

    def __init__(self, connection: ServerConnection) -> None:
        self._connection = connection

    async def send_text(self, data: str) -> None:
        await self._connection.send(data)

    async def receive_text(self) -> str:
        try:
            message = await self._connection.recv()
        except SocketClosed as exc:
            raise ConnectionClosed(f"WebSocket closed: {exc}", exc) from exc
        return message if isinstance(message, str) else message.decode()

    async def close(self) -> None:
        await self._connection.close()


class Listener:
    def __init__(self, server: Server, url: str) -> None:
        self._server = server
        self.url = url

    async def close(self) -> None:
        self._server.close()
        await self._server.wait_closed()


async def listen(runner: Any, host: str = "127.0.0.1", port: int = 0) -> Listener:
    async def handle(connection: ServerConnection) -> None:
        reason = await serve_ws(_Socket(connection), runner)
        logger.info("stream session ended: %s", reason)

    server = await serve(handle, host, port, max_size=None, compression=None)
    bound_port = next(iter(server.sockets)).getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return Listener(server, f"ws://{shown}:{bound_port}/")
