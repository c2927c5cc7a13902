"""Regenerate the tour's screenshots from the real app, rendered offscreen.

Starts the embedded stream server (with the built-in processors) in a temporary directory,
fills a small demo stream (and a child stream) with agent-style events, opens the real main
window through the real mirror runtime, and saves each view to docs/screenshots/*.png.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import argparse
import asyncio
import functools
import json
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import qasync
from PySide6.QtWidgets import QApplication, QTreeWidgetItem, QWidget

from app.settings import Settings
from mirror.builtin_processors import builtin_bindings
from mirror.runtime import RuntimeRegistry
from server.run import EmbeddedServer
from ui.app_context import AppContext
from ui.generator_dialog import open_generator
from ui.main_window import MainWindow
from ui.offload import drain
from ui.palette import apply_theme
from ui.stream_pane import StreamPane
from ui.targets import ServerEntry, StreamTarget
from wire.stream_client import StreamClient

REPO = Path(__file__).resolve().parent.parent
STREAM = "/agents/support-bot"
CHILD = "/agents/support-bot/session-42"
GATED = "/agents/rate-limited"
AGENT = "events.iterate.com/agent"
SIZE = (1280, 800)


def demo_events() -> list[dict[str, Any]]:
    """A conversation: messages in, tool calls and results, replies; runs of one type group."""
    events: list[dict[str, Any]] = [
        {"type": f"{AGENT}/heartbeat", "payload": {"sequence": n}} for n in range(1, 31)
    ]
    questions = [
        "My order #4411 has not arrived yet.",
        "Can I change the delivery address?",
        "Thanks! And the invoice?",
    ]
    for turn, question in enumerate(questions, start=1):
        events.append({"type": f"{AGENT}/message-received", "payload": {"text": question}})
        for tool in ("orders.lookup", "shipping.track", "crm.note"):
            events.append({"type": f"{AGENT}/tool-called", "payload": {"tool": tool, "turn": turn}})
        for status in ("ok", "ok", "ok"):
            events.append({"type": f"{AGENT}/tool-result", "payload": {"status": status}})
        events.append(
            {
                "type": f"{AGENT}/message-sent",
                "payload": {"text": f"Here is what I found (turn {turn}).", "tokens": 42 + turn},
                "metadata": {"model": "demo-1", "latencyMs": 812 + 17 * turn},
            }
        )
    return events


async def seed(url: str) -> None:
    async with StreamClient(url, CHILD) as child:
        await child.append({"type": f"{AGENT}/session-started", "payload": {"session": 42}})
    async with StreamClient(url, STREAM) as client:
        await client.append_batch(demo_events())


async def until(check: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not reach the expected state")
        await asyncio.sleep(0.05)


def save(widget: QWidget, out: Path, name: str) -> None:
    widget.grab().save(str(out / name))
    print(f"wrote {out / name}")


def child_named(item: QTreeWidgetItem, name: str) -> QTreeWidgetItem | None:
    children = (item.child(i) for i in range(item.childCount()))
    return next((c for c in children if c is not None and c.text(0) == name), None)


def has_child(item: QTreeWidgetItem, name: str) -> bool:
    return child_named(item, name) is not None


async def expand_tree(window: MainWindow) -> None:
    """Open the stream tree down to the demo stream's children."""
    item = window.browser.streams_root.child(0)
    for name in ("agents", "support-bot"):
        assert item is not None
        item.setExpanded(True)
        parent = item
        await until(functools.partial(has_child, parent, name))
        item = child_named(parent, name)
    assert item is not None
    item.setExpanded(True)
    await asyncio.sleep(0.3)


async def settle(pane: StreamPane) -> None:
    await until(lambda: pane.status.connection == "subscribed")
    await until(lambda: pane.raw_view.model.total >= pane.status.event_count > 0)
    await asyncio.sleep(0.6)


async def shoot(window: MainWindow, out: Path) -> None:
    pane = window.current
    assert pane is not None
    await settle(pane)
    raw = pane.raw_view
    last = raw.model.rowCount() - 1
    await until(lambda: raw.model.event_at(last - 1) is not None)
    raw.model.toggle_expanded(last - 1)  # the agent's last reply
    await asyncio.sleep(0.6)
    raw.list.scroll_to_end()
    await asyncio.sleep(0.3)
    save(window, out, "raw-events.png")

    raw.select_type(f"{AGENT}/tool-called")
    await asyncio.sleep(0.8)
    save(window, out, "type-filter.png")
    raw.select_type(None)

    await shoot_search(window, pane, out)

    pane.show_view(1)
    feed = pane.feed_view
    await until(lambda: feed.model.count > 0)
    await asyncio.sleep(0.3)
    feed.list.scroll_to_top()
    await until(lambda: feed.model.item_at(4) is not None)
    feed.model.toggle_expanded(4)
    await asyncio.sleep(0.6)
    save(window, out, "event-feed.png")

    pane.show_view(2)
    await until(lambda: "maxOffset" in pane.state_view.text.toPlainText())
    save(window, out, "state.png")

    pane.show_view(0)
    window.browser.refresh()
    await expand_tree(window)
    right = window.open_target(StreamTarget(pane.target.server, "default", CHILD), split=True)
    await settle(right)
    right.show_view(1)
    await asyncio.sleep(0.6)
    save(window, out, "split-view.png")

    console = window.stream_actions.open_sql_console()
    assert console is not None
    console.resize(900, 520)
    console.run_query()
    await until(lambda: not console.running and console.result_model.rowCount() > 0)
    await asyncio.sleep(0.2)
    save(console, out, "sql-console.png")
    console.close()


async def shoot_search(window: MainWindow, pane: StreamPane, out: Path) -> None:
    """A field filter and a search in use, a hit expanded with its match marked."""
    raw = pane.raw_view
    raw.filter_bar.edit.setText('payload.tool ~ "order" or payload.text ~ "order"')
    raw.filter_bar.apply()
    await until(lambda: raw.model.filtered is not None and raw.model.rowCount() > 0)
    window.menu_actions["find"].trigger()
    raw.search_bar.edit.setText("order")
    session = raw.search_bar.session
    await until(lambda: session.state.k is not None and session.state.n is not None)
    session.step(True)
    await until(lambda: session.state.k == 2)
    await asyncio.sleep(0.3)
    row = raw.list.currentIndex().row()
    raw.model.toggle_expanded(row)
    await until(lambda: raw.model.pretty_for_row(row) is not None)
    await asyncio.sleep(0.6)
    save(window, out, "search-filter.png")
    raw.search_bar.close_bar()
    raw.filter_bar.clear()
    raw.model.toggle_expanded(row)
    await asyncio.sleep(0.3)


async def shoot_offline(ctx: AppContext[MainWindow], out: Path) -> None:
    window = ctx.new_window(ctx.default_target(path=CHILD))
    window.resize(*SIZE)
    pane = window.current
    assert pane is not None
    await settle(pane)
    window.close()
    mirrors = ctx.registry.list_mirrors()
    info = next(m for m in mirrors if m.path == STREAM)
    offline = ctx.new_window(StreamTarget(None, info.namespace, info.path, mirror_file=info.file))
    offline.resize(*SIZE)
    offline.browser.refresh_mirrors()
    await until(lambda: offline.browser.mirror_item(STREAM) is not None)
    await asyncio.sleep(0.8)
    save(offline, out, "offline-mirror.png")
    offline.close()


def unreachable_url() -> str:
    """A loopback URL nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


async def shoot_error_and_dark(ctx: AppContext[MainWindow], out: Path) -> None:
    """A pane whose server is gone, in light and dark; then the stream itself in dark."""
    lab = ServerEntry(name="Lab", url=unreachable_url())
    window = ctx.new_window(StreamTarget(lab, "default", "/orders/eu"))
    window.resize(*SIZE)
    pane = window.current
    assert pane is not None
    await until(lambda: pane.error_banner.isVisible() and "Retrying" in pane.error_banner.text())
    await asyncio.sleep(0.3)
    save(window, out, "connection-error.png")
    window.close()
    # As `streamdesk --theme dark` does: the theme is set before the windows open.
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    apply_theme(app, "dark")
    dark_window = ctx.new_window(StreamTarget(lab, "default", "/orders/eu"))
    dark_window.resize(*SIZE)
    dark_pane = dark_window.current
    assert dark_pane is not None
    banner = dark_pane.error_banner
    await until(lambda: banner.isVisible() and "Retrying" in banner.text())
    await asyncio.sleep(0.3)
    save(dark_window, out, "dark-connection-error.png")
    dark_window.close()

    dark = ctx.new_window(ctx.default_target(path=STREAM))
    dark.resize(*SIZE)
    live = dark.current
    assert live is not None
    await settle(live)
    last = live.raw_view.model.rowCount() - 1
    await until(lambda: live.raw_view.model.event_at(last - 1) is not None)
    live.raw_view.model.toggle_expanded(last - 1)
    await asyncio.sleep(0.6)
    live.raw_view.list.scroll_to_end()
    await asyncio.sleep(0.3)
    save(dark, out, "dark-raw-events.png")
    live.show_view(1)
    await until(lambda: live.feed_view.model.count > 0)
    await asyncio.sleep(0.6)
    save(dark, out, "dark-event-feed.png")
    dark.close()


async def shoot_gate(ctx: AppContext[MainWindow], out: Path) -> None:
    """A stream paused by the circuit breaker (set from the panel) and the generator dialog."""
    window = ctx.new_window(ctx.default_target(path=GATED))
    window.resize(*SIZE)
    pane = window.current
    assert pane is not None
    gate = pane.gate_panel
    await until(gate.breaker.apply_button.isEnabled)
    gate.breaker.burst.setValue(1)
    gate.breaker.refill.setValue(1)
    gate.breaker.apply_button.click()
    await until(lambda: gate.action_label.text() == "limits applied")
    composer = pane.composer
    for n in (1, 2, 3):
        if n == 3:  # the second append spent more than the burst
            await until(lambda: gate.gate_label.text() == "Paused")
        composer.editor.setPlainText(
            json.dumps({"type": f"{AGENT}/message-received", "payload": {"n": n}})
        )
        composer.submit()
        await until(lambda: composer.state in ("appended", "error"))
    assert composer.status_label.text().startswith("stream paused:")
    await asyncio.sleep(0.6)
    save(window, out, "stream-gate.png")
    window.close()

    window = ctx.new_window(ctx.default_target(path=STREAM))
    window.resize(*SIZE)
    pane = window.current
    assert pane is not None
    await settle(pane)
    dialog = open_generator(pane)
    assert dialog is not None
    dialog.count.setValue(500)
    dialog.seconds.setValue(1)
    dialog.batch_size.setValue(50)
    dialog.start_button.click()
    await until(lambda: dialog.state == "done")
    await asyncio.sleep(0.3)
    save(dialog, out, "insert-events.png")
    dialog.close()
    window.close()


async def main(out: Path, data: Path) -> None:
    bindings = builtin_bindings(data / "processors.sqlite3")
    server = EmbeddedServer(data / "server", bindings=bindings).start_in_thread()
    try:
        await seed(server.url)
        registry = RuntimeRegistry(data / "app", loop=asyncio.get_running_loop())
        embedded = ServerEntry(name="Embedded", url=server.url, embedded=True)
        ctx = AppContext(
            registry,
            Settings(data / "app" / "settings.json"),
            default_server=embedded,
            window_factory=MainWindow,
        )
        window = ctx.new_window(ctx.default_target(path=STREAM))
        window.resize(*SIZE)
        await shoot(window, out)
        window.close()
        await shoot_offline(ctx, out)
        await shoot_gate(ctx, out)
        await shoot_error_and_dark(ctx, out)
        await drain()
        await registry.aclose()
    finally:
        server.stop_thread()


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as data, loop:
        loop.run_until_complete(main(args.out, Path(data)))


if __name__ == "__main__":
    run()
