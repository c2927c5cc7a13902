"""Shared fixtures: a real stream server, in-process or as a `python -m server` subprocess."""

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

# Tests run with no display; Qt must render offscreen (set before any Qt import).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from server.run import EmbeddedServer
from wire.stream_client import StreamClient

REPO_ROOT = Path(__file__).resolve().parent.parent
_LISTENING = re.compile(r"listening on (http://\S+)")


@pytest.fixture
async def embedded_server(tmp_path: Path) -> AsyncIterator[str]:
    """Base URL of a stream server running in the test's event loop on a free port."""
    async with EmbeddedServer(tmp_path / "embedded-server") as server:
        yield server.url


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[EmbeddedServer]:
    """A stream server running in the test's event loop (the object: ``.url`` and more)."""
    async with EmbeddedServer(tmp_path / "server") as running:
        yield running


@pytest.fixture
async def client(
    server: EmbeddedServer, request: pytest.FixtureRequest
) -> AsyncIterator[StreamClient]:
    """A client of the stream at the test module's ``PATH`` on ``server``."""
    async with StreamClient(server.url, request.module.PATH) as stream_client:
        yield stream_client


@pytest.fixture
def embedded_server_thread(tmp_path: Path) -> Iterator[str]:
    """Base URL of a stream server running in a background thread (for sync or Qt tests)."""
    with EmbeddedServer(tmp_path / "embedded-server-thread") as server:
        yield server.url


class ServerProcess:
    """`python -m server` as a subprocess over one data directory; restartable."""

    def __init__(self, data_dir: Path, *extra_args: str, env: dict[str, str] | None = None):
        self.data_dir = data_dir
        self.extra_args = extra_args
        self.env = env
        self.url = ""
        self.returncode: int | None = None
        self.output: list[str] = []
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    @property
    def process(self) -> "subprocess.Popen[str]":
        assert self._process is not None, "the server process is not running"
        return self._process

    def start(self, timeout: float = 30.0) -> str:
        """Start the server and wait for its startup line; returns the base URL."""
        assert self._process is None, "already running"
        env = {**os.environ, **(self.env or {})}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        args = ["--port", "0", "--data-dir", str(self.data_dir), *self.extra_args]
        process = subprocess.Popen(
            [sys.executable, "-m", "server", *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._process = process
        found = threading.Event()
        self.url = ""

        def read() -> None:
            # Keeps draining stderr so the server never blocks on a full pipe.
            assert process.stderr is not None
            for line in process.stderr:
                self.output.append(line)
                match = _LISTENING.search(line)
                if match and not self.url:
                    self.url = match.group(1)
                    found.set()
            found.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        if not found.wait(timeout) or not self.url:
            self.stop()
            raise RuntimeError("server process did not start:\n" + "".join(self.output))
        return self.url

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Signal the server, wait for it to exit, return its exit code."""
        process = self._process
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._reader is not None:
            self._reader.join(5)
        self._process = None
        self.returncode = process.returncode
        return process.returncode

    def restart(self) -> str:
        self.stop()
        return self.start()


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    """A running `python -m server` subprocess (`.url`, `.restart()`, `.stop()`)."""
    server = ServerProcess(tmp_path / "server-process")
    server.start()
    try:
        yield server
    finally:
        server.stop()
