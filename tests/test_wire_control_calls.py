"""kill() and reset() through StreamClient: done when the server says so the way iterate's does
(a ``kill requested`` rejection, or the connection dropped once the request reached it), failed
otherwise; and still done against the embedded server, which returns normally."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from iterate_like_server import KILL_REQUESTED, iterate_like_app, serve
from server_support import CREATED, WOKEN, types_of
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from wire.errors import ConnectionClosed, RemoteError
from wire.http_batch import handle_http_batch
from wire.session import RpcTarget
from wire.stream_client import (
    StreamClient,
    StreamConnectionError,
    StreamError,
    is_control_acknowledgement,
)

pytestmark = pytest.mark.timeout(60)
PATH = "/control/calls"


@pytest.fixture
async def iterate_like(tmp_path: Path) -> AsyncIterator[str]:
    async with serve(iterate_like_app(tmp_path / "streams")) as url:
        yield url


async def test_kill_requested_rejection_is_success(iterate_like: str) -> None:
    async with StreamClient(iterate_like, PATH) as client:
        await client.append({"type": "note", "payload": {}})
        await client.kill()
        events = await client.get_events()
        # The next request woke the killed stream: a second `woken`, nothing lost.
        assert types_of(events).count(WOKEN) == 2
        assert "note" in types_of(events)


async def test_reset_answered_with_kill_requested_is_success(iterate_like: str) -> None:
    async with StreamClient(iterate_like, PATH) as client:
        await client.append({"type": "note", "payload": {}})
        await client.reset()
        events = await client.get_events()
        assert types_of(events) == [CREATED, WOKEN]


class Refusing(RpcTarget):
    """kill/reset refused for another reason; runtimeState rejected with ``kill requested``."""

    def kill(self) -> None:
        raise RemoteError("Error", "stream paused: maintenance")

    def reset(self) -> None:
        raise RemoteError("Error", "kill requested twice")

    def runtimeState(self) -> None:
        raise RemoteError("Error", KILL_REQUESTED)


async def test_other_rejections_still_fail() -> None:
    async def batch(request: Request) -> Response:
        body = (await request.body()).decode()
        return PlainTextResponse(await handle_http_batch(body, Refusing()))

    app = Starlette(routes=[Route("/api/streams", batch, methods=["POST"])])
    async with serve(app) as url, StreamClient(url, PATH) as client:
        with pytest.raises(StreamError, match=r"^stream paused: maintenance$"):
            await client.kill()
        with pytest.raises(StreamError, match=r"^kill requested twice$"):
            await client.reset()
        # Only kill and reset take that message as success.
        with pytest.raises(StreamError, match=rf"^{KILL_REQUESTED}$"):
            await client.runtime_state()


async def test_a_batch_aborted_with_kill_requested_is_success() -> None:
    async def batch(request: Request) -> Response:
        await request.body()
        return PlainTextResponse(f'["abort",["error","Error","{KILL_REQUESTED}"]]')

    app = Starlette(routes=[Route("/api/streams", batch, methods=["POST"])])
    async with serve(app) as url, StreamClient(url, PATH) as client:
        await client.kill()
        await client.reset()


async def test_a_connection_dropped_after_the_request_is_success() -> None:
    requests: list[bytes] = []

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Read the whole request (headers, then the body), then close without an answer.
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        requests.append(head + await reader.readexactly(length))
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, StreamClient(f"http://127.0.0.1:{port}", PATH) as client:
        await client.kill()
        await client.reset()
        with pytest.raises(StreamConnectionError):
            await client.runtime_state()
    assert [b'"kill"' in request for request in requests] == [True, False, False]
    assert b'"reset"' in requests[1]


async def test_an_unreachable_server_is_a_failure() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    async with StreamClient(f"http://127.0.0.1:{port}", PATH) as client:
        with pytest.raises(StreamConnectionError, match="kill on default:/control/calls"):
            await client.kill()
        with pytest.raises(StreamConnectionError, match="reset on default:/control/calls"):
            await client.reset()


async def test_embedded_server_kill_and_reset_return_normally(embedded_server: str) -> None:
    async with StreamClient(embedded_server, PATH) as client:
        await client.append({"type": "note", "payload": {}})
        await client.kill()
        assert types_of(await client.get_events()).count(WOKEN) == 2
        await client.reset()
        assert types_of(await client.get_events()) == [CREATED, WOKEN]


def test_which_failures_acknowledge_a_control_call() -> None:
    request = httpx.Request("POST", "http://127.0.0.1:1/api/streams")
    dropped = httpx.RemoteProtocolError("Server disconnected", request=request)
    refused = httpx.ConnectError("connection refused", request=request)
    killed = RemoteError("Error", KILL_REQUESTED)
    assert is_control_acknowledgement(killed)
    assert is_control_acknowledgement(RemoteError("Error", f"Error: {KILL_REQUESTED}"))
    assert is_control_acknowledgement(ConnectionClosed("peer aborted", killed))
    assert is_control_acknowledgement(ConnectionClosed("HTTP batch failed", dropped))
    assert not is_control_acknowledgement(ConnectionClosed("HTTP batch failed", refused))
    assert not is_control_acknowledgement(RemoteError("Error", "kill requested by someone"))
    assert not is_control_acknowledgement(ConnectionClosed("closed"))
