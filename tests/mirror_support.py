"""Helpers for the mirror runtime tests: the event-by-event comparison every integration test ends
with, fast timings, a registry that closes itself, a started and synced runtime, waiting on a
runtime's status, a worker process, and a TCP proxy that can freeze and cut connections."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mirror.runtime import RuntimeRegistry, RuntimeStatus, RuntimeTiming, StreamRuntime
from mirror.runtime_reader import RuntimeReader
from mirror.verify import verify_against_server
from wire.stream_client import StreamClient

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKER = REPO_ROOT / "tests" / "mirror_worker.py"

# Contract timings, except: small catch-up pages (so a few thousand events page), a quick
# election poll, and a probe that does not interfere with short tests.
FAST = RuntimeTiming(catchup_page=500, election_poll=0.05, probe_interval=30.0)


async def assert_mirror_matches_server(
    mirror: StreamRuntime | RuntimeReader | Path,
    client: StreamClient,
    *,
    through: int | None = None,
) -> int:
    """The mirror holds exactly the server's log (no loss, duplicate, gap or change) up to
    ``through`` (default: the server's maxOffset now); returns how many events matched."""
    if isinstance(mirror, StreamRuntime):
        reader = mirror.reader
    elif isinstance(mirror, Path):
        reader = RuntimeReader(mirror)
    else:
        reader = mirror
    if through is None:
        state = await client.runtime_state()
        through = int(state["coreProcessorState"]["maxOffset"])
    problem = await verify_against_server(reader, client, through=through)
    assert problem is None, problem
    if isinstance(mirror, Path):
        reader.close()
    return through


async def wait_status(
    runtime: StreamRuntime, predicate: Callable[[RuntimeStatus], bool], seconds: float = 20.0
) -> RuntimeStatus:
    try:
        async with asyncio.timeout(seconds):
            return await runtime.wait_until(predicate)
    except TimeoutError:
        raise AssertionError(f"status never matched within {seconds} s: {runtime.status}") from None


async def wait_synced(runtime: StreamRuntime, client: StreamClient, seconds: float = 30.0) -> int:
    """Until the runtime is subscribed and holds the server's maxOffset (read now)."""
    state = await client.runtime_state()
    target = int(state["coreProcessorState"]["maxOffset"])
    await wait_status(
        runtime,
        lambda s: s.connection == "subscribed" and s.event_count >= target,
        seconds,
    )
    return target


@contextlib.asynccontextmanager
async def open_registry(
    data_dir: Path, timing: RuntimeTiming = FAST
) -> AsyncIterator[RuntimeRegistry]:
    """A registry over ``data_dir``, closed (every runtime with it) on the way out."""
    registry = RuntimeRegistry(data_dir, timing=timing)
    try:
        yield registry
    finally:
        await registry.aclose()


async def synced_runtime(
    registry: RuntimeRegistry, server_url: str, client: StreamClient
) -> StreamRuntime:
    """The runtime of ``client``'s stream, retained and synced with the server (see
    ``wait_synced``); the caller releases it (or closes the registry)."""
    runtime = registry.acquire(server_url, client.namespace, client.path)
    runtime.retain()
    await wait_synced(runtime, client)
    return runtime


async def seed(client: StreamClient, count: int, *, batch: int = 1000, size: int = 100) -> int:
    """Append ``count`` events of 5 types (about ``size`` bytes of payload); returns maxOffset."""
    types = [f"test/type-{i}" for i in range(5)]
    last = 0
    for first in range(0, count, batch):
        events = [
            {"type": types[(i // 3) % 5], "payload": {"n": i, "text": "x" * size}}
            for i in range(first, min(count, first + batch))
        ]
        committed = await client.append_batch(events)
        last = int(committed[-1]["offset"])
    return last


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- worker processes -------------------------------------------------------------------------


@dataclass
class Worker:
    """``tests/mirror_worker.py`` in a subprocess; its JSON lines are collected as they come."""

    process: asyncio.subprocess.Process
    lines: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    reader_task: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, data_dir: Path, url: str, path: str, *extra: str) -> Worker:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            "--data-dir",
            str(data_dir),
            "--url",
            url,
            "--path",
            path,
            *extra,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            cwd=REPO_ROOT,
        )
        worker = cls(process)
        worker.reader_task = asyncio.ensure_future(worker._read())
        return worker

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            with contextlib.suppress(ValueError):
                self.lines.append(json.loads(line))
                self.changed.set()
        self.changed.set()

    def last(self, kind: str) -> dict[str, Any] | None:
        for line in reversed(self.lines):
            if line.get("kind") == kind:
                found: dict[str, Any] = line
                return found
        return None

    async def wait_line(
        self, predicate: Callable[[dict[str, Any]], bool], seconds: float = 20.0
    ) -> dict[str, Any]:
        """The first line (seen so far or to come) that matches ``predicate``."""
        seen = 0
        try:
            async with asyncio.timeout(seconds):
                while True:
                    for line in self.lines[seen:]:
                        if predicate(line):
                            return line
                    seen = len(self.lines)
                    if self.process.returncode is not None:
                        raise AssertionError(f"worker exited ({self.process.returncode})")
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"no matching worker line within {seconds} s; last: {self.lines[-3:]}"
            ) from None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()

    async def stop(self) -> None:
        if self.process.returncode is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.kill()
        await self.process.wait()
        if self.reader_task is not None:
            await self.reader_task


# -- a TCP proxy ----------------------------------------------------------------------------------


class Hold:
    """Holds the ``nth`` request (client to server) whose bytes contain ``marker`` until
    ``release()``; ``reached`` is set once it is being held."""

    def __init__(self, marker: bytes, nth: int) -> None:
        self.marker = marker.lower()
        self.left = nth
        self.reached = asyncio.Event()
        self.released = asyncio.Event()

    def wants(self, data: bytes) -> bool:
        if self.left <= 0 or self.marker not in data.lower():
            return False
        self.left -= 1
        return self.left == 0

    def release(self) -> None:
        self.released.set()


class _Pipe:
    def __init__(
        self,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: Any,
        holds: list[Hold],
    ) -> None:
        self.holds = holds
        self.client_reader, self.client_writer = client
        self.server_reader, self.server_writer = upstream
        self.websocket = False
        self.frozen = asyncio.Event()
        self.frozen.set()  # set = flowing
        self.tasks: list[asyncio.Task[None]] = []

    async def pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                if b"upgrade: websocket" in data[:2048].lower():
                    self.websocket = True
                for hold in self.holds if upstream else ():
                    if hold.wants(data):
                        hold.reached.set()
                        await hold.released.wait()
                await self.frozen.wait()
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.close()

    def cut(self) -> None:
        for writer in (self.client_writer, self.server_writer):
            transport = writer.transport
            transport.abort()
        for task in self.tasks:
            task.cancel()


class Proxy:
    """Forwards 127.0.0.1:port to a server; ``freeze_websockets()`` stops every WebSocket
    connection open now (bytes stop flowing, nothing closes) and returns them; ``pipe.cut()``
    aborts one; ``hold(marker, nth)`` holds one request on its way to the server."""

    def __init__(self, upstream_url: str) -> None:
        host_port = upstream_url.split("://", 1)[1]
        host, port = host_port.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.pipes: list[_Pipe] = []
        self.frozen_all = False
        self.holds: list[Hold] = []
        self._server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> Proxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for pipe in self.pipes:
            pipe.cut()
        if self._server is not None:
            self._server.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await asyncio.open_connection(*self.upstream)
        pipe = _Pipe((reader, writer), upstream, self.holds)
        if self.frozen_all:
            pipe.frozen.clear()
        self.pipes.append(pipe)
        pipe.tasks = [
            asyncio.ensure_future(pipe.pump(reader, upstream[1], upstream=True)),
            asyncio.ensure_future(pipe.pump(upstream[0], writer, upstream=False)),
        ]

    def hold(self, marker: bytes, nth: int = 1) -> Hold:
        """Hold the ``nth`` request from now on that contains ``marker`` (e.g. the third
        ``b'"getEvents"'`` batch, or a WebSocket upgrade) until ``release()``."""
        hold = Hold(marker, nth)
        self.holds.append(hold)
        return hold

    def freeze_all(self) -> None:
        """Stop every connection, and every new one, until ``thaw()``."""
        self.frozen_all = True
        for pipe in self.pipes:
            pipe.frozen.clear()

    def thaw(self) -> None:
        self.frozen_all = False
        for pipe in self.pipes:
            pipe.frozen.set()

    def freeze_websockets(self) -> list[_Pipe]:
        frozen = [pipe for pipe in self.pipes if pipe.websocket and pipe.frozen.is_set()]
        for pipe in frozen:
            pipe.frozen.clear()
        return frozen
