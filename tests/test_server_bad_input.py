"""Bad input at the transport and RPC level: each gets a clear error, the server keeps serving
other sessions, and nothing partial is stored."""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from server.run import EmbeddedServer
from wire.paths import stream_url
from wire.stream_client import AuthError, StreamClient, StreamError

MiB = 1024 * 1024


@pytest.fixture
async def client(embedded_server: str) -> AsyncIterator[StreamClient]:
    async with StreamClient(embedded_server, "/bad") as c:
        yield c


async def raw_socket(base_url: str, path: str = "/bad", **headers: str) -> ClientConnection:
    return await websockets.connect(
        stream_url(base_url, path, ws=True),
        max_size=None,
        additional_headers=headers or None,
        compression=None,
    )


async def call(ws: ClientConnection, import_id: int, method: str, *args: Any) -> list[Any]:
    """Push a call on the main object, pull it, return the resolve/reject message."""
    await ws.send(json.dumps(["push", ["pipeline", 0, [method], list(args)]]))
    await ws.send(json.dumps(["pull", import_id]))
    async with asyncio.timeout(10):
        while True:
            message = json.loads(await ws.recv())
            if message[0] in ("resolve", "reject") and message[1] == import_id:
                return list(message)


async def closing_messages(ws: ClientConnection) -> list[Any]:
    """Every message until the server closes the connection."""
    received: list[Any] = []
    async with asyncio.timeout(10):
        try:
            while True:
                received.append(json.loads(await ws.recv()))
        except websockets.ConnectionClosed:
            return received


async def still_serving(client: StreamClient) -> None:
    committed = await client.append({"type": "test.alive"})
    assert committed["type"] == "test.alive"


async def test_malformed_frames_abort_only_their_session(
    embedded_server: str, client: StreamClient
) -> None:
    for frame in ("this is not json", '{"push": 1}', '["bogus-message", 1]', "[]"):
        ws = await raw_socket(embedded_server)
        await ws.send(frame)
        messages = await closing_messages(ws)
        assert messages and messages[-1][0] == "abort", frame
        assert messages[-1][1][0] == "error" and messages[-1][1][2], frame
        await still_serving(client)


async def test_unknown_and_private_methods_are_refused(embedded_server: str) -> None:
    ws = await raw_socket(embedded_server)
    for import_id, method in enumerate(
        ["nope", "_session_closed", "_registry", "subscribeOutbound", "readCoreProcessorState"],
        start=1,
    ):
        reply = await call(ws, import_id, method, {})
        assert reply[0] == "reject"
        assert f"no method named '{method}'" in reply[2][2]
    # The session survives refused calls.
    reply = await call(ws, 6, "append", {"event": {"type": "test.after"}})
    assert reply[0] == "resolve" and reply[2]["offset"] == 3
    await ws.close()


@pytest.mark.parametrize(
    ("method", "args", "message"),
    [
        ("append", [], "append expects one object argument, got 0"),
        ("append", ["x"], "append expects one object argument"),
        ("append", [{"event": {"type": "x"}}, {}], "append expects one object argument, got 2"),
        ("appendBatch", [{"events": {"type": "x"}}], '"events" must be an array'),
        ("appendBatch", [{"event": {"type": "x"}}], 'unrecognized argument key(s) "event"'),
        ("getEvent", [{"offset": "3"}], '"offset" must be an integer'),
        ("getEvents", [[["not", "an", "object"]]], "getEvents expects one object argument"),
        ("runtimeState", [{"verbose": True}], "runtimeState takes no arguments"),
        ("kill", [{"now": 1}], "kill takes no arguments"),
        ("subscribe", [{"replayAfterOffset": 0}], '"processEventBatch" is required'),
        ("subscribe", [{"processEventBatch": 5}], '"processEventBatch" must be a function'),
        ("reduce", [{"event": {"type": "x"}}], '"offset" must be an integer'),
    ],
)
async def test_wrong_argument_shapes_get_clear_errors(
    embedded_server: str, client: StreamClient, method: str, args: list[Any], message: str
) -> None:
    ws = await raw_socket(embedded_server)
    reply = await call(ws, 1, method, *args)
    assert reply[0] == "reject" and message in reply[2][2]
    await ws.close()
    assert len(await client.get_events()) == 2


async def test_oversized_frame_is_refused(embedded_server: str, client: StreamClient) -> None:
    prefix = '["push",["pipeline",0,["append"],[{"event":{"type":"test.huge","payload":"'
    frame = prefix + "x" * (32 * MiB) + '"}}]]]'
    ws = await raw_socket(embedded_server)
    await ws.send(frame)
    messages = await closing_messages(ws)
    assert messages[-1][0] == "abort" and "exceeds the limit" in messages[-1][1][2]
    # Far beyond the limit the transport itself refuses the frame (1009: message too big).
    ws = await raw_socket(embedded_server)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await ws.send("x" * (40 * MiB))
        await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    await still_serving(client)
    assert "test.huge" not in {e["type"] for e in await client.get_events()}


async def test_http_batch_errors(embedded_server: str, client: StreamClient) -> None:
    url = stream_url(embedded_server, "/bad")
    async with httpx.AsyncClient() as http:
        too_big = await http.post(url, content=b"x" * (32 * MiB + 1))
        assert too_big.status_code == 413 and "exceeds the limit" in too_big.text
        garbage = await http.post(url, content=b"not json\n")
        assert garbage.status_code == 200 and garbage.text.startswith('["abort"')
        bad_path = await http.post(stream_url(embedded_server, "/a").replace("%2Fa", "a%3Ab"))
        assert bad_path.status_code == 400 and '":" is not allowed' in bad_path.text
        plain_get = await http.get(url)
        assert plain_get.status_code in (400, 405)
    with pytest.raises(StreamError, match="subscribe needs a WebSocket session"):
        await client._call("subscribe", {"processEventBatch": print})
    await still_serving(client)


@pytest.fixture
async def guarded_server(tmp_path: Path) -> AsyncIterator[str]:
    async with EmbeddedServer(tmp_path / "guarded", token="s3cret") as server:
        yield server.url


async def test_token_is_required_when_configured(guarded_server: str) -> None:
    url = stream_url(guarded_server, "/t")
    async with httpx.AsyncClient() as http:
        missing = await http.post(url, content=b"")
        assert missing.status_code == 401 and "missing bearer token" in missing.text
        wrong = await http.post(url, content=b"", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "wrong bearer token" in wrong.text
    with pytest.raises(websockets.InvalidStatus) as refused:
        await raw_socket(guarded_server, "/t")
    assert refused.value.response.status_code == 401
    assert b"missing bearer token" in refused.value.response.body
    async with StreamClient(guarded_server, "/t", token="wrong") as bad:
        with pytest.raises(AuthError):
            await bad.append({"type": "test.x"})
        with pytest.raises(AuthError):
            await bad.subscribe(print)
    async with StreamClient(guarded_server, "/t", token="s3cret") as good:
        assert (await good.append({"type": "test.x"}))["offset"] == 3
        events: list[dict[str, Any]] = []
        sub = await good.subscribe(lambda b: events.extend(b["events"]), replay_after_offset=0)
        await sub.unsubscribe()
