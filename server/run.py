"""Running the stream server on uvicorn: in-process (`EmbeddedServer`), in a background thread
for sync callers, or as the `streamdesk serve` process (`serve_forever`).
"""

import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
import threading
from collections.abc import Generator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Final

import uvicorn

from server.app import DEFAULT_IDLE_ENGINE_SECONDS, MAX_MESSAGE_SIZE, create_app
from server.engine import DEFAULT_DELIVERY_BATCH_LIMIT
from server.outbound import Binding

logger = logging.getLogger(__name__)

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8787
_STARTUP_TIMEOUT_SECONDS: Final = 30.0
_GRACEFUL_SHUTDOWN_SECONDS: Final = 5
# Frames a little over the RPC limit still reach the session, which refuses them with a clear
# abort message; far bigger ones are cut off by uvicorn (close code 1009).
_WS_FRAME_SLACK: Final = 1024 * 1024


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: the owner decides how the server stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class EmbeddedServer:
    """The stream server on `host:port` (port 0 = a free port), serving `data_dir`.

    Async: `async with EmbeddedServer(data_dir) as server: server.url`.
    Sync: `server = EmbeddedServer(data_dir).start_in_thread(); ...; server.stop_thread()`, or
    `with EmbeddedServer(data_dir) as server: ...` (runs it in a background thread).
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        token: str | None = None,
        delivery_batch_limit: int = DEFAULT_DELIVERY_BATCH_LIMIT,
        max_message_size: int = MAX_MESSAGE_SIZE,
        idle_engine_seconds: float = DEFAULT_IDLE_ENGINE_SECONDS,
        bindings: Mapping[str, Binding] | None = None,
        idle_teardown: float | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self._bindings = bindings
        self._idle_teardown = idle_teardown
        self._idle_engine_seconds = idle_engine_seconds
        self.host = host
        self.token = token
        self._port = port
        self._delivery_batch_limit = delivery_batch_limit
        self._max_message_size = max_message_size
        self._server: _Uvicorn | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not running")
        return self._port

    @property
    def url(self) -> str:
        """Base URL clients use (`http://127.0.0.1:PORT`; a wildcard bind maps to loopback)."""
        return f"http://{_client_host(self.host)}:{self.port}"

    # --- asyncio -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the server is already running")
        app = create_app(
            self.data_dir,
            self.token,
            delivery_batch_limit=self._delivery_batch_limit,
            max_message_size=self._max_message_size,
            idle_engine_seconds=self._idle_engine_seconds,
            bindings=self._bindings,
            idle_teardown=self._idle_teardown,
        )
        try:
            sock = _bind(self.host, self._port)
        except BaseException:
            app.state.registry.close()
            raise
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="on",
            ws_max_size=self._max_message_size + _WS_FRAME_SLACK,
            ws_per_message_deflate=False,
            timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_SECONDS,
        )
        server = _Uvicorn(config)
        self._server = server
        self._task = asyncio.get_running_loop().create_task(
            server.serve(sockets=[sock]), name="streamdesk server"
        )
        while not server.started:
            if self._task.done():
                self._server = None
                sock.close()
                app.state.registry.close()
                self._task.result()
                raise RuntimeError("the stream server stopped during startup")
            await asyncio.sleep(0.01)
        if not _is_loopback(self.host) and not self.token:
            logger.warning(
                "the stream server is bound to %s without a token: anyone who can reach this "
                "machine can read, append, kill and reset streams (use --token)",
                self.host,
            )
        logger.info(
            "Streamdesk stream server listening on %s (data directory %s)",
            self.url,
            self.data_dir,
        )

    async def stop(self) -> None:
        server, task = self._server, self._task
        if server is None or task is None:
            return
        server.should_exit = True
        try:
            await task
        finally:
            self._server = None
            self._task = None
        logger.info("Streamdesk stream server stopped")

    async def wait_closed(self) -> None:
        """Until the server stops."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def __aenter__(self) -> "EmbeddedServer":
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- background thread ---------------------------------------------------------------

    def start_in_thread(self) -> "EmbeddedServer":
        """Run the server on its own event loop in a daemon thread; returns once it listens."""
        if self._thread is not None:
            raise RuntimeError("the server thread is already running")
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._thread_loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_until_complete(self.wait_closed())
            finally:
                loop.close()

        thread = threading.Thread(target=run, name="streamdesk-server", daemon=True)
        self._thread = thread
        thread.start()
        if not started.wait(_STARTUP_TIMEOUT_SECONDS):
            raise TimeoutError("the stream server did not start in time")
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop_thread(self, timeout: float = 10.0) -> None:
        """Stop a server started with `start_in_thread` and wait for its thread."""
        thread, loop = self._thread, self._thread_loop
        if thread is None or loop is None:
            return
        if thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self.stop(), loop)
            future.result(timeout)
        thread.join(timeout)
        self._thread = None
        self._thread_loop = None

    def __enter__(self) -> "EmbeddedServer":
        return self.start_in_thread()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_thread()


async def serve_forever(server: EmbeddedServer) -> None:
    """Run until SIGINT or SIGTERM, then shut down cleanly (the `serve` command)."""
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    # Installed before startup, so a signal that arrives while starting still stops cleanly.
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl+C raises instead
            loop.add_signal_handler(sig, stop_requested.set)
    try:
        await server.start()
        waiters = {
            asyncio.ensure_future(server.wait_closed()),
            asyncio.ensure_future(stop_requested.wait()),
        }
        _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in pending:
            waiter.cancel()
    finally:
        await server.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    # An explicit IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that carry it,
    # and without it every small response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _client_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
