"""UI benchmark: the longest Qt event-loop stall while the app catches up a long stream.

Seeds a stream with N events (default 1,000,000) on a stream server, then opens it in the real
main window with an empty data directory, so the mirror runtime catches up all of it while the
raw events list follows the tail. A 5 ms Qt timer measures the gaps between its ticks; the
longest gap is the longest stall. Target: under 100 ms.

    .venv/bin/python bench/ui_stall.py [--events 1000000] [--in-process]

By default the server runs as a separate process (`python -m server`), so the figure is the UI
process's own; `--in-process` runs it in a thread of the app process, like the embedded default.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import qasync
from bench_support import start_server
from PySide6.QtWidgets import QApplication
from qt_probe import QtStallProbe

from app.interpreter_tuning import tune_interpreter
from app.settings import Settings
from mirror.runtime import RuntimeRegistry
from server.run import EmbeddedServer
from ui.app_context import AppContext
from ui.main_window import MainWindow
from ui.offload import drain
from ui.targets import ServerEntry
from wire.stream_client import StreamClient

TARGET_MS = 100.0
PATH = "/bench/stall"
SEED_BATCH = 1000


async def seed(url: str, count: int) -> None:
    async with StreamClient(url, PATH) as client:
        sent = 0
        while sent < count:
            size = min(SEED_BATCH, count - sent)
            await client.append_batch(
                [
                    {"type": f"events.iterate.com/bench/type-{(sent + i) % 5}", "payload": {"i": i}}
                    for i in range(size)
                ]
            )
            sent += size


async def catch_up(url: str, data_dir: Path, total: int) -> tuple[float, float, QtStallProbe]:
    registry = RuntimeRegistry(data_dir, loop=asyncio.get_running_loop())
    server = ServerEntry(name="bench", url=url)
    ctx = AppContext(
        registry,
        Settings(data_dir / "settings.json"),
        default_server=server,
        window_factory=MainWindow,
    )
    started = time.perf_counter()
    window = ctx.new_window(ctx.default_target(path=PATH))
    opened = time.perf_counter() - started
    # Building the window is a one-off before any catch-up work; it is reported on its own.
    probe = QtStallProbe()
    pane = window.current
    assert pane is not None
    done = asyncio.Event()

    def check() -> None:
        if pane.status.event_count >= total and pane.raw_view.model.total >= total:
            done.set()

    pane.statusChanged.connect(check)
    pane.raw_view.model.countsChanged.connect(check)
    check()
    await done.wait()
    seconds = time.perf_counter() - started
    probe.stop()
    window.close()
    await drain()
    await registry.aclose()
    return seconds, opened, probe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args()
    tune_interpreter()  # the process runs with the app's settings (app.cli.main)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        embedded: EmbeddedServer | None = None
        process: subprocess.Popen[str] | None = None
        if args.in_process:
            embedded = EmbeddedServer(root / "server").start_in_thread()
            url = embedded.url
        else:
            process, url = start_server(root / "server-data")
        try:
            started = time.perf_counter()
            asyncio.run(seed(url, args.events))
            print(f"seeded {args.events:,} events in {time.perf_counter() - started:.1f} s")
            app = QApplication.instance() or QApplication([sys.argv[0]])
            assert isinstance(app, QApplication)
            app.setQuitOnLastWindowClosed(False)
            loop = qasync.QEventLoop(app)
            asyncio.set_event_loop(loop)
            # created + woken + the seeded events + the app's own subscriber-connected
            total = args.events + 3
            with loop:
                seconds, opened, probe = loop.run_until_complete(catch_up(url, root / "app", total))
        finally:
            if embedded is not None:
                embedded.stop_thread()
            if process is not None:
                process.terminate()
                process.wait(30)
    gaps = sorted(probe.gaps)
    worst = gaps[-1]
    p99 = gaps[int(len(gaps) * 0.99)]
    print(f"main window built in {opened * 1000:.0f} ms (before the catch-up starts)")
    print(f"caught up {total:,} events in {seconds:.1f} s ({total / seconds:,.0f} events/s)")
    print(f"Qt loop ticks: {len(gaps):,}; p99 gap {p99:.1f} ms; longest stall {worst:.1f} ms")
    print(f"ratio of the longest stall to the {TARGET_MS:.0f} ms target: {worst / TARGET_MS:.2f}")


if __name__ == "__main__":
    main()
