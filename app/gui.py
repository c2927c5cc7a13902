"""`streamdesk` with no verb: the desktop app.

Sets up Qt with asyncio on its loop (qasync), starts the embedded stream server in a background
thread unless `--server` names another one, opens the first window, and runs until the last
window closes. The embedded server keeps the same port per data directory (saved in the
settings) so its URL, and with it the mirror file names, stay the same across launches. A
second app process on the same data directory finds the running embedded server through a lock
file and talks to it instead of starting another over the same storage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import qasync
from filelock import FileLock, Timeout
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.settings import SETTINGS_FILE, Settings
from app.token_store import TokenStore
from mirror.builtin_processors import CHECKPOINT_FILE_NAME, builtin_bindings
from mirror.paths import default_data_dir, validate_server_url
from mirror.runtime import RuntimeRegistry
from server.cli import SERVER_SUBDIR
from server.registry import DataDirInUse
from server.run import EmbeddedServer
from ui.app_context import AppContext
from ui.main_window import MainWindow
from ui.offload import drain, spawn
from ui.palette import apply_theme
from ui.sample_stream import SAMPLE_PATH, fill_sample
from ui.session_state import SessionKeeper, restore_session
from ui.stream_address import StreamPathError, normalize_namespace, normalize_path
from ui.targets import ServerEntry
from ui.time_display import time_display

log = logging.getLogger(__name__)

_EMBEDDED_INFO = "embedded.json"
_EMBEDDED_LOCK = "embedded.lock"
_STANDBY_POLL = 0.5
_INFO_WAIT = 5.0


class EmbeddedServerUnavailable(RuntimeError):
    """Another process holds the embedded server's lock but never said where it listens."""


class EmbeddedServerHost:
    """Owns the data directory's embedded server, or finds the one another process owns."""

    def __init__(self, data_dir: Path, settings: Settings) -> None:
        self._dir = data_dir / SERVER_SUBDIR
        self._settings = settings
        self._lock = FileLock(str(self._dir / _EMBEDDED_LOCK))
        self._server: EmbeddedServer | None = None
        self._shared_port: int | None = None
        self._bindings: dict[str, Callable[[str], object]] | None = None

    def start(self) -> ServerEntry:
        self._dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return self._shared()
        try:
            server = self._start_server(self._settings.embedded_port or 0)
        except DataDirInUse:
            self._lock.release()
            raise
        self._server = server
        self._settings.embedded_port = server.port
        self._publish(server)
        return ServerEntry(name="Embedded", url=server.url, embedded=True)

    def _publish(self, server: EmbeddedServer) -> None:
        # Written aside and renamed: a second app reading it never sees half a file.
        info = self._dir / _EMBEDDED_INFO
        partial = info.with_name(f"{info.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps({"url": server.url, "pid": os.getpid()}), encoding="utf-8")
        os.replace(partial, info)

    def _start_server(self, port: int) -> EmbeddedServer:
        try:
            return self._embedded(port).start_in_thread()
        except OSError as error:
            if port == 0:
                raise
            log.info("port %d is taken (%s); the embedded server takes a free one", port, error)
            return self._embedded(0).start_in_thread()

    def _embedded(self, port: int) -> EmbeddedServer:
        # The built-in processors (circuit breaker, echo) run in-process; the server dials them.
        if self._bindings is None:
            self._bindings = builtin_bindings(
                self._dir.parent / "processors" / CHECKPOINT_FILE_NAME
            )
        return EmbeddedServer(self._dir, port=port, bindings=self._bindings)

    def _shared(self) -> ServerEntry:
        info_file = self._dir / _EMBEDDED_INFO
        # The owner takes the lock a moment before it writes where its server listens.
        deadline = time.monotonic() + _INFO_WAIT
        while True:
            url, problem = _read_shared_url(info_file)
            if url is not None:
                break
            if time.monotonic() > deadline:
                raise EmbeddedServerUnavailable(
                    f"another process holds the embedded server's lock {self._lock.lock_file} "
                    f"but {problem} after {_INFO_WAIT:.0f} s; close the other Streamdesk on "
                    "this data directory, or start this one with --server URL or --data-dir DIR"
                )
            time.sleep(0.1)
        self._shared_port = urlsplit(url).port
        log.info("another Streamdesk process runs the embedded server at %s; using it", url)
        return ServerEntry(name="Embedded (shared)", url=url, embedded=True)

    async def stand_by(self) -> None:
        """While another process owns the embedded server, wait for it to exit and then run the
        server here on the same port, so the URL (and every mirror file name) stays the same
        and this process's streams reconnect by themselves."""
        if self._server is not None or self._shared_port is None:
            return
        while True:
            await asyncio.sleep(_STANDBY_POLL)
            try:
                self._lock.acquire(timeout=0)
            except Timeout:
                continue
            try:
                self._server = await asyncio.to_thread(
                    self._embedded(self._shared_port).start_in_thread
                )
            except (OSError, DataDirInUse) as error:
                self._lock.release()
                log.error("could not take over the embedded server: %s", error)
                continue
            self._publish(self._server)
            log.info("the embedded server's owner exited; serving it here at %s", self._server.url)
            return

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop_thread()
            self._server = None
            (self._dir / _EMBEDDED_INFO).unlink(missing_ok=True)
            self._lock.release()


def _read_shared_url(info_file: Path) -> tuple[str | None, str]:
    """The URL another process published, or None and what is wrong with the file."""
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"{info_file} does not exist"
    except (OSError, ValueError) as error:
        return None, f"{info_file} is unreadable ({error})"
    url = info.get("url") if isinstance(info, dict) else None
    try:
        return validate_server_url(url if isinstance(url, str) else ""), ""
    except ValueError as error:
        return None, f"{info_file} holds no usable server URL ({error})"


def _initial_path(args: argparse.Namespace) -> tuple[str, str]:
    try:
        path = normalize_path(args.path or "/")
    except StreamPathError as error:
        log.warning("%s; opening / instead", error)
        path = "/"
    return normalize_namespace(args.namespace or ""), path


def run_gui(args: argparse.Namespace) -> int:
    server_url: str | None = None
    if args.server:
        try:
            server_url = validate_server_url(str(args.server))
        except ValueError as error:
            log.error("--server: %s", error)
            return 2
    data_dir = Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir / SETTINGS_FILE, TokenStore())
    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    time_display().bind_store(settings)
    app.setApplicationName("Streamdesk")
    apply_theme(app, args.theme)
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)

    host: EmbeddedServerHost | None = None
    if server_url is not None:
        token = args.token or os.environ.get("STREAMDESK_TOKEN") or None
        default = ServerEntry(name=server_url.split("://", 1)[-1], url=server_url, token=token)
    else:
        host = EmbeddedServerHost(data_dir, settings)
        try:
            default = host.start()
        except DataDirInUse as error:
            log.error("%s: start the app with --server URL to use that server", error)
            return 2
        except EmbeddedServerUnavailable as error:
            log.error("%s", error)
            return 2
    registry = RuntimeRegistry(data_dir, loop=loop)
    ctx = AppContext(registry, settings, default_server=default, window_factory=MainWindow)
    closed = asyncio.Event()
    ctx.allWindowsClosed.connect(closed.set)
    SessionKeeper(ctx)
    _close_windows_on_signals(ctx)
    try:
        with loop:
            window = _first_window(ctx, args)
            if args.exit_after_show:
                # Queued behind the first paint of the window, so it measures time to a window.
                QTimer.singleShot(0, window.close)
            # One run for the whole life of the app: qasync does not run tasks queued while a
            # run is stopping, so a second run would leave the final unsubscribes waiting.
            loop.run_until_complete(_run_until_closed(closed, registry, host))
    finally:
        if host is not None:
            host.stop()
    return 0


def _first_window(ctx: AppContext[MainWindow], args: argparse.Namespace) -> MainWindow:
    """The stream asked for on the command line; else the last session; else, on the very first
    start on the embedded server, the sample stream; else /."""
    asked = args.path is not None or args.namespace != "default" or args.server
    if not asked:
        restored = restore_session(ctx)
        if restored:
            return restored[0]
        if ctx.settings.first_start() and ctx.embedded_url is not None:
            window = ctx.new_window(ctx.default_target(path=SAMPLE_PATH))
            if window.current is not None:
                spawn(fill_sample(window.current.runtime), what="filling the sample stream")
            return window
    namespace, path = _initial_path(args)
    return ctx.new_window(ctx.default_target(namespace, path))


def _close_windows_on_signals(ctx: AppContext[MainWindow]) -> None:
    """SIGINT / SIGTERM close every window, so the app shuts down as if the user quit."""

    def close_all(_signum: int, _frame: object) -> None:
        QTimer.singleShot(0, ctx.quit)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, close_all)
    # Python runs signal handlers only between bytecodes: a light timer gives it the chance
    # while Qt sleeps in its event loop.
    wake = QTimer(ctx)
    wake.timeout.connect(lambda: None)
    wake.start(250)


async def _run_until_closed(
    closed: asyncio.Event, registry: RuntimeRegistry, host: EmbeddedServerHost | None
) -> None:
    standby = asyncio.create_task(host.stand_by()) if host is not None else None
    await closed.wait()
    if standby is not None:
        standby.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await standby
    await drain()
    await registry.aclose()
