"""Fixtures and helpers for the desktop app's tests: Qt offscreen with asyncio on its loop
(qasync), a real embedded server in a thread, the real runtime registry, app windows."""

from __future__ import annotations

import asyncio
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import qasync
from PySide6.QtCore import QModelIndex
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.settings import Settings
from mirror.runtime import RuntimeRegistry
from server.run import EmbeddedServer
from ui.app_context import AppContext
from ui.main_window import MainWindow
from ui.offload import drain
from ui.stream_list_view import StreamListView
from ui.targets import ServerEntry, StreamTarget
from wire.stream_client import StreamClient

T = TypeVar("T")
TIMEOUT_MS = 30_000


# Loops stay referenced after a test: a worker thread finishing late still signals the loop's
# Qt objects, which must not have been deleted by then.
_loops: list[asyncio.AbstractEventLoop] = []


def _finish_tasks(loop: asyncio.AbstractEventLoop, seconds: float = 10.0) -> None:
    """Let every task of the loop finish (cancelling what is still running at the end)."""
    deadline = time.monotonic() + seconds
    while any(not t.done() for t in asyncio.all_tasks(loop)):
        if time.monotonic() > deadline:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            deadline = time.monotonic() + seconds
        QTest.qWait(10)


@contextmanager
def qt_asyncio() -> Iterator[asyncio.AbstractEventLoop]:
    """asyncio on the Qt loop: tasks advance whenever qtbot waits (Qt events are processed)."""
    app = QApplication.instance()
    assert isinstance(app, QApplication), "use the qtbot (or qapp) fixture first"
    loop = qasync.QEventLoop(app, already_running=True)
    asyncio.set_event_loop(loop)
    _loops.append(loop)
    try:
        yield loop
    finally:
        _finish_tasks(loop)
        # QEventLoop.stop() would call QApplication.exit(), after which the next test's loop
        # never runs; an "already running" loop is only marked stopped instead.
        loop._QEventLoop__is_running = False
        asyncio.events._set_running_loop(None)
        loop.close()
        asyncio.set_event_loop(None)


def run(qtbot: QtBot, coro: Coroutine[Any, Any, T], timeout_ms: int = TIMEOUT_MS) -> T:
    """Run a coroutine on the Qt loop until it finishes."""
    task = asyncio.ensure_future(coro)
    qtbot.waitUntil(task.done, timeout=timeout_ms)
    return task.result()


def wait_for(qtbot: QtBot, check: Callable[[], bool], timeout_ms: int = TIMEOUT_MS) -> None:
    qtbot.waitUntil(check, timeout=timeout_ms)


def fresh_path() -> str:
    return f"/e2e/{uuid.uuid4().hex[:12]}"


class UiHarness:
    """One app process's worth of UI on a data directory: registry, context, windows."""

    def __init__(self, qtbot: QtBot, data_dir: Path, server_url: str) -> None:
        self.qtbot = qtbot
        self.data_dir = data_dir
        self.server_url = server_url
        self.server = ServerEntry(name="Embedded", url=server_url, embedded=True)
        self.registry = RuntimeRegistry(data_dir, loop=asyncio.get_event_loop())
        self.ctx = AppContext(
            self.registry,
            Settings(data_dir / "settings.json"),
            default_server=self.server,
            window_factory=MainWindow,
        )

    def target(self, path: str) -> StreamTarget:
        return StreamTarget(self.server, "default", path)

    def open(self, path: str) -> MainWindow:
        window = self.ctx.new_window(self.target(path))
        self.qtbot.addWidget(window)
        window.stream_actions.confirm_destructive = False
        return window

    def client(self, path: str) -> StreamClient:
        return StreamClient(self.server_url, path)

    def append(self, path: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Append straight to the server (not through the UI)."""

        async def go() -> list[dict[str, Any]]:
            async with self.client(path) as client:
                return list(await client.append_batch(events))

        return run(self.qtbot, go())

    def close(self) -> None:
        for window in list(self.ctx.windows):
            window.close()
        run(self.qtbot, drain())
        run(self.qtbot, self.registry.aclose())


@contextmanager
def ui_harness(
    qtbot: QtBot, tmp_path: Path, *, bindings: Mapping[str, Callable[[str], object]] | None = None
) -> Iterator[UiHarness]:
    """An embedded server in a thread, asyncio on Qt, and the app's context on a fresh data
    directory; windows, tasks and runtimes are closed afterwards. `bindings`: the server's env
    bindings (e.g. `mirror.builtin_processors.builtin_bindings(...)` for the built-ins)."""
    with qt_asyncio(), EmbeddedServer(tmp_path / "server", bindings=bindings) as server:
        harness = UiHarness(qtbot, tmp_path / "data", server.url)
        try:
            yield harness
        finally:
            harness.close()


# --- reading what the views show ------------------------------------------------------------


def visible_rows(view: StreamListView) -> list[int]:
    """Rows whose rectangle intersects the list's viewport."""
    model = view.model()
    viewport = view.viewport().rect()
    first = view.rowAt(viewport.top())
    last = view.rowAt(viewport.bottom())
    if first < 0:
        return []
    last = model.rowCount(QModelIndex()) - 1 if last < 0 else last
    return list(range(first, last + 1))


def row_visible(view: StreamListView, row: int) -> bool:
    return row in visible_rows(view)


def event(event_type: str, **payload: Any) -> dict[str, Any]:
    return {"type": event_type, "payload": payload}
