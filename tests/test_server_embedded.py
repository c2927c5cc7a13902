"""`EmbeddedServer` for sync callers: a background thread, a clean stop, the data-dir lock."""

import asyncio
from pathlib import Path

import httpx
import pytest

from server.registry import DataDirInUse
from server.run import EmbeddedServer
from wire.paths import stream_url
from wire.stream_client import StreamClient

RUNTIME_STATE = b'["push",["pipeline",0,["runtimeState"],[]]]\n["pull",1]'


def test_background_thread_server_serves_and_stops(embedded_server_thread: str) -> None:
    answer = httpx.post(stream_url(embedded_server_thread, "/sync"), content=RUNTIME_STATE)
    assert answer.status_code == 200
    assert '"path":"/sync"' in answer.text and '"maxOffset":2' in answer.text


def test_thread_server_releases_its_data_dir(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "data").start_in_thread()
    url = server.url
    assert httpx.post(stream_url(url, "/x"), content=RUNTIME_STATE).status_code == 200
    with pytest.raises(DataDirInUse):
        EmbeddedServer(tmp_path / "data").start_in_thread()
    server.stop_thread()
    with pytest.raises(httpx.ConnectError):
        httpx.post(stream_url(url, "/x"), content=RUNTIME_STATE)
    with EmbeddedServer(tmp_path / "data") as again:
        answer = httpx.post(stream_url(again.url, "/x"), content=RUNTIME_STATE)
        # created and woken by the first server, woken again by this one
        assert '"maxOffset":3' in answer.text


async def test_async_server_port_is_free_and_reported(tmp_path: Path) -> None:
    async with EmbeddedServer(tmp_path / "a") as first, EmbeddedServer(tmp_path / "b") as second:
        assert first.port != second.port
        assert first.url == f"http://127.0.0.1:{first.port}"


async def test_the_server_evicts_idle_streams_on_its_own(tmp_path: Path) -> None:
    async with (
        EmbeddedServer(tmp_path / "data", idle_engine_seconds=0.2) as server,
        StreamClient(server.url, "/quiet") as client,
    ):
        await client.append({"type": "test.idle/one"})
        await asyncio.sleep(1)  # idle for 0.2 s, swept every 0.1 s: evicted by now
        events = await client.get_events()  # wakes it again
    assert [e["type"].rsplit("/", 1)[-1] for e in events] == [
        "created",
        "woken",
        "one",
        "woken",
    ]
