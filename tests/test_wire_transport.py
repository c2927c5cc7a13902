"""WebSocket and HTTP batch transports against a real Starlette app on uvicorn (loopback), and
StreamClient against a small in-memory stream served the same way."""

from __future__ import annotations

import asyncio
import gc
import socket
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
import websockets
from asgi_support import ASGIApp, Scope, serve_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from wire.codec import UNDEFINED
from wire.errors import ConnectionClosed, HttpStatusError, ProtocolError, RemoteError
from wire.http_batch import handle_http_batch, http_batch_call
from wire.paths import parse_stream_url, stream_url
from wire.session import RemoteStub, RpcTarget
from wire.stream_client import AuthError, StreamClient, StreamError
from wire.ws import connect_ws, serve_ws

pytestmark = pytest.mark.timeout(60)


def require_token(app: ASGIApp, token: str) -> ASGIApp:
    """HTTP 401 before any RPC when the bearer token is missing or wrong (PROTOCOL.md §1)."""

    async def guarded(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = dict(scope["headers"])
            if headers.get(b"authorization") != f"Bearer {token}".encode():
                if scope["type"] == "http":
                    await PlainTextResponse("unauthorized", status_code=401)(scope, receive, send)
                else:
                    await receive()
                    await send(
                        {"type": "websocket.http.response.start", "status": 401, "headers": []}
                    )
                    await send({"type": "websocket.http.response.body", "body": b"unauthorized"})
                return
        await app(scope, receive, send)

    return guarded


# --------------------------------------------------------------------------- served objects


RECORDED: list[Any] = []


class Probe(RpcTarget):
    """A main object exercising the transport."""

    def __init__(self, websocket: WebSocket | None = None) -> None:
        self.websocket = websocket
        self.closed_reasons: list[BaseException] = []

    def add(self, a: int, b: int) -> int:
        return a + b

    def echo(self, value: Any) -> Any:
        return value

    def repeat(self, text: str, n: int) -> str:
        return text * n

    def fail(self, message: str) -> None:
        raise RuntimeError(message)

    async def record_later(self, value: Any) -> None:
        await asyncio.sleep(0.02)
        RECORDED.append(value)

    async def hang(self) -> None:
        await asyncio.Event().wait()

    async def close_socket(self) -> None:
        assert self.websocket is not None
        await self.websocket.close()

    async def call_back(self, cb: RemoteStub, n: int) -> Any:
        for i in range(n):
            await cb.notify(i)
        result = await cb("done")
        cb.release()
        return result


class FakeStream(RpcTarget):
    """Just enough of PROTOCOL.md §3 to exercise StreamClient end to end."""

    def __init__(self, namespace: str, path: str) -> None:
        self.namespace = namespace
        self.path = path
        self.events: list[dict[str, Any]] = []
        self.subscribers: dict[str, RemoteStub] = {}

    def _envelope(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        state = {"maxOffset": len(self.events), "childPaths": ["/x"], "pauseReason": UNDEFINED}
        return {
            "namespace": self.namespace,
            "path": self.path,
            "events": events,
            "streamMaxOffset": len(self.events),
            "state": state,
        }

    async def appendBatch(self, arg: dict[str, Any]) -> list[dict[str, Any]]:
        committed = []
        for event in arg["events"]:
            if not event.get("type"):
                raise ValueError("event type must be a non-empty string")
            full = {
                **event,
                "offset": len(self.events) + 1,
                "createdAt": "2026-06-01T12:00:00.123Z",
            }
            self.events.append(full)
            committed.append(full)
        for cb in list(self.subscribers.values()):
            await cb.notify(self._envelope(committed))
        return committed

    async def append(self, arg: dict[str, Any]) -> dict[str, Any]:
        return (await self.appendBatch({"events": [arg["event"]]}))[0]

    def getEvent(self, arg: dict[str, Any]) -> Any:
        if "offset" in arg:
            if not 1 <= arg["offset"] <= len(self.events):
                raise ValueError(f"No stream event found at offset {arg['offset']}.")
            return self.events[arg["offset"] - 1]
        found = [e for e in self.events if e.get("idempotencyKey") == arg["idempotencyKey"]]
        return found[0] if found else UNDEFINED

    def getEvents(self, arg: dict[str, Any]) -> list[dict[str, Any]]:
        after = arg.get("afterOffset", 0)
        before = arg.get("beforeOffset", len(self.events) + 1)
        selected = [e for e in self.events if after < e["offset"] < before]
        return selected[: arg["limit"]] if "limit" in arg else selected

    def runtimeState(self) -> dict[str, Any]:
        return {"coreProcessorState": self._envelope([])["state"], "runtime": {"connections": 0}}

    def reduce(self, arg: dict[str, Any]) -> dict[str, Any]:
        return {"maxOffset": len(self.events) + 1, "lastType": arg["event"]["type"]}

    def kill(self) -> None:
        return None

    def reset(self) -> None:
        self.events.clear()

    async def subscribe(self, arg: dict[str, Any]) -> dict[str, Any]:
        key = arg.get("subscriptionKey") or str(uuid.uuid4())
        cb: RemoteStub = arg["processEventBatch"]
        self.subscribers[key] = cb
        replay = arg.get("replayAfterOffset")
        first = [] if replay is None else [e for e in self.events if e["offset"] > replay]
        await cb.notify(self._envelope(first))

        def unsubscribe() -> None:
            self.subscribers.pop(key).release()

        return {
            "subscriptionKey": key,
            "streamMaxOffset": len(self.events),
            "unsubscribe": unsubscribe,
        }


class FakeServer:
    def __init__(self) -> None:
        self.streams: dict[tuple[str, str], FakeStream] = {}
        self.probes: list[Probe] = []

    def stream_for(self, url: str) -> FakeStream:
        key = parse_stream_url(url)
        if key not in self.streams:
            self.streams[key] = FakeStream(*key)
        return self.streams[key]

    async def stream_ws(self, websocket: WebSocket) -> None:
        await websocket.accept()
        await serve_ws(websocket, self.stream_for(str(websocket.url)))

    async def stream_http(self, request: Request) -> Response:
        body = (await request.body()).decode()
        return PlainTextResponse(await handle_http_batch(body, self.stream_for(str(request.url))))

    async def probe_ws(self, websocket: WebSocket) -> None:
        await websocket.accept()
        probe = Probe(websocket)
        self.probes.append(probe)
        await serve_ws(websocket, probe, on_closed=probe.closed_reasons.append)

    async def probe_http(self, request: Request) -> Response:
        body = (await request.body()).decode()
        return PlainTextResponse(await handle_http_batch(body, Probe()))

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                WebSocketRoute("/api/streams", self.stream_ws),
                Route("/api/streams", self.stream_http, methods=["POST"]),
                WebSocketRoute("/probe", self.probe_ws),
                Route("/probe", self.probe_http, methods=["POST"]),
            ]
        )


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeServer, str]]:
    server = FakeServer()
    async with serve_app(server.app()) as base:
        yield server, base


def ws_url(base: str, path: str = "/probe") -> str:
    return base.replace("http://", "ws://") + path


# --------------------------------------------------------------------------- WebSocket


async def test_ws_calls_values_and_errors(fake: tuple[FakeServer, str]) -> None:
    server, base = fake
    async with await connect_ws(ws_url(base)) as session:
        assert await session.main.add(20, 22) == 42
        when = datetime(2026, 6, 1, 12, 0, 0, 123000, tzinfo=UTC)
        value = {"nested": [[1, [2]], []], "when": when, "u": UNDEFINED, "b": b"\x00\xff"}
        assert await session.main.echo(value) == value
        with pytest.raises(RemoteError, match="went wrong") as info:
            await session.main.fail("went wrong")
        assert info.value.type == "Error"
    reason = await asyncio.wait_for(session.closed, 5)
    assert isinstance(reason, ConnectionClosed)
    for _ in range(100):
        if server.probes[0].closed_reasons:
            break
        await asyncio.sleep(0.02)
    assert isinstance(server.probes[0].closed_reasons[0], ConnectionClosed)


async def test_ws_callback_called_back_a_thousand_times_in_order(
    fake: tuple[FakeServer, str],
) -> None:
    _, base = fake
    got: list[Any] = []
    async with await connect_ws(ws_url(base)) as session:

        def callback(value: Any) -> int:
            got.append(value)
            return len(got)

        assert await session.main.call_back(callback, 1000) == 1001
    assert got == [*range(1000), "done"]


async def test_ws_server_closing_fails_pending_calls_promptly(fake: tuple[FakeServer, str]) -> None:
    _, base = fake
    session = await connect_ws(ws_url(base))
    pending = asyncio.create_task(_await(session.main.hang()))
    await session.main.close_socket.notify()
    with pytest.raises(ConnectionClosed, match="WebSocket closed"):
        await asyncio.wait_for(pending, 5)
    assert isinstance(await asyncio.wait_for(session.closed, 5), ConnectionClosed)
    await session.aclose()


async def _await(awaitable: Any) -> Any:
    return await awaitable


async def test_ws_oversized_frame_fails_the_call(fake: tuple[FakeServer, str]) -> None:
    _, base = fake
    async with await connect_ws(ws_url(base), max_message_size=10_000) as session:
        with pytest.raises(ConnectionClosed, match=r"1009|too big"):
            await asyncio.wait_for(session.main.repeat("x", 50_000), 5)


async def test_ws_server_aborts_on_bad_frames(fake: tuple[FakeServer, str]) -> None:
    server, base = fake
    async with websockets.connect(ws_url(base)) as raw:
        await raw.send('["push",["pipeline",0,')
        abort = orjson.loads(await asyncio.wait_for(raw.recv(), 5))
        assert abort[0] == "abort"
        assert "malformed JSON" in abort[1][2]
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(raw.recv(), 5)
    for _ in range(100):
        if server.probes[0].closed_reasons:
            break
        await asyncio.sleep(0.02)
    assert isinstance(server.probes[0].closed_reasons[0], ProtocolError)


async def test_serve_ws_awaits_an_async_on_closed_and_survives_a_failing_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    told: asyncio.Queue[BaseException] = asyncio.Queue()
    returned: asyncio.Queue[BaseException] = asyncio.Queue()

    async def tell(reason: BaseException) -> None:
        await asyncio.sleep(0)
        told.put_nowait(reason)

    def fail(reason: BaseException) -> None:
        raise RuntimeError("hook broke")

    async def serve(websocket: WebSocket) -> None:
        await websocket.accept()
        hook = tell if websocket.url.path == "/async" else fail
        returned.put_nowait(await serve_ws(websocket, Probe(), on_closed=hook))

    app = Starlette(routes=[WebSocketRoute("/async", serve), WebSocketRoute("/failing", serve)])
    async with serve_app(app) as base:
        async with await connect_ws(ws_url(base, "/async")) as session:
            assert await session.main.add(1, 2) == 3
        reason = await asyncio.wait_for(told.get(), 5)
        assert isinstance(reason, ConnectionClosed)
        assert await asyncio.wait_for(returned.get(), 5) is reason
        async with await connect_ws(ws_url(base, "/failing")) as session:
            assert await session.main.add(2, 2) == 4
        assert isinstance(await asyncio.wait_for(returned.get(), 5), ConnectionClosed)
    assert "on_closed callback of a WebSocket session failed" in caplog.text


async def test_connect_ws_to_a_closed_port_fails_clearly() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(ConnectionClosed, match="cannot open WebSocket"):
        await connect_ws(f"ws://127.0.0.1:{port}/probe", open_timeout=5)


# --------------------------------------------------------------------------- HTTP batch


async def test_http_batch_several_calls_in_one_request(fake: tuple[FakeServer, str]) -> None:
    _, base = fake
    results = await http_batch_call(
        base + "/probe",
        [("add", 1, 2), ("echo", [[1], {"d": [2]}]), ("fail", "nope"), ("repeat", "ab", 2)],
        return_exceptions=True,
    )
    assert results[:2] == [3, [[1], {"d": [2]}]]
    assert isinstance(results[2], RemoteError) and results[2].message == "nope"
    assert results[3] == "abab"
    with pytest.raises(RemoteError, match="nope"):
        await http_batch_call(base + "/probe", [("fail", "nope")])


async def test_http_batch_frames_match_the_reference_shape() -> None:
    body = '["push",["pipeline",0,["add"],[1,2]]]\n["pull",1]'
    assert await handle_http_batch(body, Probe()) == '["resolve",1,3]'
    # Unpulled calls get no answer but still run to completion; a bad line answers with an abort.
    push = '["push",["pipeline",0,["record_later"],["unpulled"]]]'
    assert await handle_http_batch(push, Probe()) == ""
    for _ in range(100):
        if "unpulled" in RECORDED:
            break
        await asyncio.sleep(0.01)
    assert "unpulled" in RECORDED
    aborted = orjson.loads(await handle_http_batch('["pull",1]', Probe()))
    assert aborted[0] == "abort" and "unknown export id 1" in aborted[1][2]


async def test_http_batch_status_errors(fake: tuple[FakeServer, str]) -> None:
    _, base = fake
    with pytest.raises(HttpStatusError) as info:
        await http_batch_call(base + "/missing", [("add", 1, 2)])
    assert info.value.status_code == 404


async def test_http_batch_reuses_a_given_client(fake: tuple[FakeServer, str]) -> None:
    _, base = fake
    async with httpx.AsyncClient() as client:
        for i in range(3):
            assert await http_batch_call(base + "/probe", [("add", i, i)], client=client) == [2 * i]


# --------------------------------------------------------------------------- StreamClient


async def test_stream_client_one_shot_calls(fake: tuple[FakeServer, str]) -> None:
    server, base = fake
    async with StreamClient(base, "a/b", namespace="proj_1") as client:
        first = await client.append({"type": "t.one", "payload": {"tags": ["x"]}})
        assert first["offset"] == 1 and first["payload"] == {"tags": ["x"]}
        batch = await client.append_batch(
            [{"type": "t.two", "idempotencyKey": "k2"}, {"type": "t.three"}]
        )
        assert [e["offset"] for e in batch] == [2, 3]
        by_offset = await client.get_event(offset=2)
        by_key = await client.get_event(idempotency_key="k2")
        assert by_offset is not None and by_offset["type"] == "t.two"
        assert by_key is not None and by_key["offset"] == 2
        assert await client.get_event(idempotency_key="missing") is None
        events = await client.get_events(after_offset=1, limit=1)
        assert [e["offset"] for e in events] == [2]
        state = await client.runtime_state()
        assert state["coreProcessorState"] == {"maxOffset": 3, "childPaths": ["/x"]}
        assert (await client.reduce({"type": "t.four"}))["lastType"] == "t.four"
        await client.kill()
        with pytest.raises(StreamError) as info:
            await client.get_event(offset=99)
        assert info.value.message == "No stream event found at offset 99."
        await client.reset()
        assert await client.get_events() == []
    assert ("proj_1", "/a/b") in server.streams


async def test_stream_client_subscription_delivers_in_order(fake: tuple[FakeServer, str]) -> None:
    _, base = fake
    async with StreamClient(base, "/s") as client:
        await client.append_batch([{"type": "old"}, {"type": "old"}])
        batches: list[dict[str, Any]] = []

        async def on_batch(batch: dict[str, Any]) -> None:
            await asyncio.sleep(0)
            batches.append(batch)

        sub = await client.subscribe(on_batch, replay_after_offset=0, subscription_key="k")
        assert sub.subscription_key == "k"
        assert sub.stream_max_offset == 2
        for i in range(20):
            await client.append({"type": "new", "payload": {"i": i}})
        for _ in range(200):
            if sum(len(b["events"]) for b in batches) == 22:
                break
            await asyncio.sleep(0.02)
        offsets = [e["offset"] for b in batches for e in b["events"]]
        assert offsets == list(range(1, 23))
        assert batches[0]["state"] == {"maxOffset": 2, "childPaths": ["/x"]}  # undefined dropped
        await sub.unsubscribe()
        assert isinstance(await asyncio.wait_for(sub.closed, 5), ConnectionClosed)
        await client.append({"type": "after"})
        assert sum(len(b["events"]) for b in batches) == 22


async def test_stream_client_bad_event_raises_remote_message(fake: tuple[FakeServer, str]) -> None:
    _, base = fake
    async with StreamClient(base, "/e") as client:
        with pytest.raises(StreamError, match=r"^event type must be a non-empty string$"):
            await client.append({"type": ""})


async def test_stream_client_token_is_required_and_never_echoed() -> None:
    server = FakeServer()
    async with serve_app(require_token(server.app(), "s3cret-token")) as base:
        async with StreamClient(base, "/t") as anonymous:
            with pytest.raises(AuthError, match="token") as info:
                await anonymous.append({"type": "x"})
            assert "no token was given" in str(info.value)
            with pytest.raises(AuthError, match="HTTP 401"):
                await anonymous.subscribe(lambda batch: None)
        async with StreamClient(base, "/t", token="wrong-token") as wrong:
            with pytest.raises(AuthError) as info:
                await wrong.runtime_state()
            assert "wrong-token" not in str(info.value)
        async with StreamClient(base, "/t", token="s3cret-token") as client:
            assert (await client.append({"type": "x"}))["offset"] == 1
            sub = await client.subscribe(lambda batch: None)
            await sub.unsubscribe()


async def test_stream_client_unreachable_server() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    async with StreamClient(f"http://127.0.0.1:{port}", "/") as client:
        with pytest.raises(StreamError, match="runtimeState on default:/"):
            await client.runtime_state()


def test_stream_client_urls() -> None:
    client = StreamClient("https://streams.example/", "e2e/foo", namespace="proj_123")
    assert client.url == "https://streams.example/api/streams?path=%2Fe2e%2Ffoo&namespace=proj_123"
    assert client.ws_url == stream_url("https://streams.example", "/e2e/foo", "proj_123", ws=True)
    assert client.ws_url.startswith("wss://")


async def test_an_http_batch_answer_is_freed_without_waiting_for_the_cycle_collector() -> None:
    """A catch-up page can be megabytes: it must go when the call returns, by reference counting
    alone, however lazily the cycle collector runs (httpx keeps a response in a cycle)."""
    page = b'["resolve",1,"' + b"x" * 3_000_000 + b'"]'
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(page)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in request_head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        writer.write(head + page)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/api/streams"
    try:
        async with httpx.AsyncClient() as http:
            assert len((await http_batch_call(url, [("big",)], client=http))[0]) == 3_000_000
            gc.collect()
            gc.disable()
            tracemalloc.start()
            try:
                before = tracemalloc.get_traced_memory()[0]
                result = await http_batch_call(url, [("big",)], client=http)
                assert len(result[0]) == 3_000_000
                del result
                await asyncio.sleep(0)  # callbacks the call scheduled on the loop run first
                kept = tracemalloc.get_traced_memory()[0] - before
            finally:
                tracemalloc.stop()
                gc.enable()
    finally:
        server.close()
        await server.wait_closed()
    assert kept < 1_000_000
