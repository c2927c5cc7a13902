"""Interop with the reference implementation (the `capnweb` npm package), both directions, over
WebSocket and HTTP batch. The Node side lives in tests/interop/; its packages are installed from the
committed lockfile on first use (`npm ci --prefix tests/interop`).

Skipped only when node or tests/interop/node_modules is missing and CI is unset; under CI a
missing prerequisite fails.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from wire.codec import UNDEFINED, BigInt, RemoteError
from wire.http_batch import handle_http_batch, http_batch_call
from wire.session import RemoteStub, RpcTarget
from wire.ws import connect_ws, serve_ws

sys.path.insert(0, str(Path(__file__).parent))
from asgi_support import serve_app
from interop_support import INTEROP, node_or_skip, run_node_report

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

SAMPLE_DATE = datetime(2025, 6, 8, 0, 22, 50, 815000, tzinfo=UTC)


def sample() -> dict[str, Any]:
    return {
        "nested": [[1, [2, []]], [], ["a", None]],
        "when": SAMPLE_DATE,
        "u": UNDEFINED,
        "n": None,
        "big": BigInt(12345678901234567890),
        "bytes": b"\x00\x01\xff",
        "inf": float("-inf"),
        "text": "héllo\nworld",
    }


def check_sample(value: dict[str, Any]) -> None:
    """What Python decodes from the JavaScript `sample()`."""
    assert value == {**sample(), "bytes": b"\x00\x01\xff"}
    assert type(value["big"]) is BigInt
    assert value["u"] is UNDEFINED


class Counter(RpcTarget):
    def __init__(self) -> None:
        self.n = 0

    def inc(self, by: int = 1) -> int:
        self.n += by
        return self.n


class InteropApi(RpcTarget):
    """The Python twin of tests/interop/api.mjs, served to the Node client."""

    def __init__(self) -> None:
        self.kept: RemoteStub | None = None

    def add(self, a: int, b: int) -> int:
        return a + b

    def echo(self, value: Any) -> Any:
        return value

    def fail(self, message: str) -> None:
        raise RuntimeError(message)

    def failType(self) -> None:
        raise TypeError("bad type")

    def sample(self) -> dict[str, Any]:
        return sample()

    def describe(self, v: dict[str, Any]) -> dict[str, Any]:
        return {
            "nested": repr(v["nested"]),
            "when": int(v["when"].timestamp() * 1000),
            "u": repr(v["u"]),
            "n": v["n"],
            "big": repr(v["big"]),
            "bytes": list(v["bytes"]),
            "inf": repr(v["inf"]),
            "text": v["text"],
        }

    def makeCounter(self) -> Counter:
        return Counter()

    async def callBack(self, cb: RemoteStub, n: int) -> Any:
        for i in range(n):
            await cb.notify(i)
        result = await cb("done")
        cb.release()
        return result

    def keep(self, cb: RemoteStub) -> None:
        if self.kept is not None:
            self.kept.release()
        self.kept = cb

    async def fire(self, n: int) -> Any:
        assert self.kept is not None
        for i in range(n):
            await self.kept.notify(i)
        return await self.kept("fired")

    def drop(self) -> None:
        if self.kept is not None:
            self.kept.release()
            self.kept = None


def python_app() -> Starlette:
    async def ws_endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await serve_ws(websocket, InteropApi())

    async def http_endpoint(request: Request) -> Response:
        body = (await request.body()).decode()
        return PlainTextResponse(await handle_http_batch(body, InteropApi()))

    return Starlette(
        routes=[
            WebSocketRoute("/api", ws_endpoint),
            Route("/api", http_endpoint, methods=["POST"]),
        ]
    )


async def run_node_client(mode: str, url: str) -> dict[str, Any]:
    report = await run_node_report(str(INTEROP / "client.mjs"), mode, url)
    assert report["ok"], report.get("error", "")
    return report


@pytest.fixture
async def node_server() -> AsyncIterator[str]:
    node = node_or_skip()
    proc = await asyncio.create_subprocess_exec(
        node,
        str(INTEROP / "server.mjs"),
        cwd=INTEROP,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert line.startswith("PORT "), f"unexpected output from server.mjs: {line!r}"
        yield f"127.0.0.1:{line.split()[1]}"
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()


# --------------------------------------------------------------------------- Node → Python


async def test_node_client_calls_python_over_websocket() -> None:
    node_or_skip()  # before starting the Python side
    async with serve_app(python_app()) as base:
        report = await run_node_client("ws", base.replace("http://", "ws://") + "/api")
    assert report["checks"] == 10


async def test_node_client_calls_python_over_http_batch() -> None:
    node_or_skip()  # before starting the Python side
    async with serve_app(python_app()) as base:
        report = await run_node_client("http", base + "/api")
    assert report["checks"] == 3


# --------------------------------------------------------------------------- Python → Node


async def test_python_client_calls_node_over_websocket(node_server: str) -> None:
    async with await connect_ws(f"ws://{node_server}/") as session:
        main = session.main
        assert await main.add(2, 3) == 5
        assert await main.echo([[1, [2]], {"a": []}]) == [[1, [2]], {"a": []}]
        check_sample(await main.sample())
        check_sample(await main.echo(sample()))
        assert await main.describe(sample()) == {
            "nested": '[[1,[2,[]]],[],["a",null]]',
            "isDate": True,
            "time": 1749342170815,
            "undefinedKept": True,
            "n": None,
            "big": "12345678901234567890",
            "bytes": [0, 1, 255],
            "inf": True,
            "text": "héllo\nworld",
        }
        with pytest.raises(RemoteError) as info:
            await main.fail("boom")
        assert (info.value.type, info.value.message, info.value.stack) == ("Error", "boom", None)
        with pytest.raises(RemoteError) as info:
            await main.failType()
        assert info.value.type == "TypeError"

        counter = main.makeCounter()  # pipelined: not awaited before use
        assert await counter.inc() == 1
        assert await counter.inc(5) == 6
        counter.release()

        got: list[Any] = []

        def callback(value: Any) -> int:
            got.append(value)
            return len(got)

        result = await main.callBack(callback, 1000)
        assert result == 1001
        assert got == [*range(1000), "done"]

        later: list[Any] = []

        def kept(value: Any) -> int:
            later.append(value)
            return len(later)

        await main.keep(kept)
        assert await main.fire(1000) == 1001
        assert later == [*range(1000), "fired"]
        await main.drop()
        for _ in range(100):
            if session.session.stats() == {"imports": 0, "exports": 0}:
                break
            await asyncio.sleep(0.01)
        # Every stub and call result was released by both sides.
        assert session.session.stats() == {"imports": 0, "exports": 0}


async def test_python_client_calls_node_over_http_batch(node_server: str) -> None:
    url = f"http://{node_server}/"
    results = await http_batch_call(
        url,
        [
            ("add", 1, 2),
            ("echo", [[], [[1]]]),
            ("sample",),
            ("fail", "batch boom"),
            ("describe", sample()),
        ],
        return_exceptions=True,
    )
    assert results[0] == 3
    assert results[1] == [[], [[1]]]
    check_sample(results[2])
    assert isinstance(results[3], RemoteError)
    assert results[3].message == "batch boom"
    assert results[4]["time"] == 1749342170815 and results[4]["undefinedKept"] is True
