"""UI benchmark: a 1,000,000-event mirror opens offline and shows its tail.

Builds the mirror file with the mirror core's own writer (raw events + feed), then opens it
offline in the real main window and measures the time from asking for the window to the first
paint of the list's viewport with the tail rows loaded. Target: under 1 s.

    .venv/bin/python bench/ui_open.py [--events 1000000] [--mirror FILE]

`--mirror FILE` reuses a mirror built by an earlier run (it is kept when given).
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import qasync
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication

from app.interpreter_tuning import tune_interpreter
from app.settings import Settings
from mirror.db import MirrorDb
from mirror.processors import MirrorWriter
from mirror.runtime import RuntimeRegistry
from ui.app_context import AppContext
from ui.event_model import RawEventsModel
from ui.main_window import MainWindow
from ui.offload import drain
from ui.stream_list_view import StreamListView
from ui.targets import ServerEntry, StreamTarget

TARGET_SECONDS = 1.0
TYPES = [f"events.iterate.com/bench/type-{n}" for n in range(8)]
BATCH = 10_000


def build_mirror(path: Path, count: int) -> float:
    """Write `count` events through MirrorWriter; returns seconds taken."""
    started = time.perf_counter()
    db = MirrorDb.open(path)
    writer = MirrorWriter(db)
    db.set_incarnation("2026-01-01T00:00:00.000Z")
    offset = db.event_count()
    while offset < count:
        batch = []
        for _ in range(min(BATCH, count - offset)):
            offset += 1
            batch.append(
                {
                    "offset": offset,
                    "type": TYPES[(offset // 7) % len(TYPES)],
                    "payload": {"n": offset, "text": "bench event"},
                    "createdAt": "2026-01-01T00:00:00.000Z",
                }
            )
        writer.apply_sync(batch)
    db.close()
    return time.perf_counter() - started


class TailPaint(QObject):
    """Records when the list's viewport is first painted with its last row loaded."""

    def __init__(self, view: StreamListView, model: RawEventsModel, started: float) -> None:
        super().__init__()
        self._view = view
        self._model = model
        self._started = started
        self.seconds: float | None = None
        self.painted = asyncio.Event()
        view.viewport().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if self.seconds is None and event.type() == QEvent.Type.Paint:
            last = self._model.rowCount() - 1
            bottom = self._view.rowAt(self._view.viewport().rect().bottom())
            if last >= 0 and bottom in (last, -1) and self._model.event_at(last) is not None:
                self.seconds = time.perf_counter() - self._started
                self.painted.set()
        return False


async def measure(mirror: Path, data_dir: Path, events: int) -> float:
    registry = RuntimeRegistry(data_dir, loop=asyncio.get_running_loop())
    offline = ServerEntry(name="none", url="http://127.0.0.1:9", embedded=False)
    ctx = AppContext(
        registry,
        Settings(data_dir / "settings.json"),
        default_server=offline,
        window_factory=MainWindow,
    )
    started = time.perf_counter()
    window = ctx.new_window(StreamTarget(None, "default", "/bench", mirror_file=mirror))
    pane = window.current
    assert pane is not None
    probe = TailPaint(pane.raw_view.list, pane.raw_view.model, started)
    await asyncio.wait_for(probe.painted.wait(), 120)
    rows = pane.raw_view.model.rowCount()
    window.close()
    await drain()
    await registry.aclose()
    if probe.seconds is None:
        raise SystemExit("the tail was never painted")
    if rows != events:
        raise SystemExit(f"the list showed {rows} rows, expected {events}")
    return probe.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--mirror", type=Path, help="build here (or reuse) instead of a temp dir")
    args = parser.parse_args()
    tune_interpreter()  # the process runs with the app's settings (app.cli.main)
    with tempfile.TemporaryDirectory() as scratch:
        mirror = args.mirror or Path(scratch) / "bench.sqlite3"
        built = build_mirror(mirror, args.events)
        print(f"mirror with {args.events:,} events ready in {built:.1f} s ({mirror})")
        app = QApplication.instance() or QApplication([sys.argv[0]])
        assert isinstance(app, QApplication)
        app.setQuitOnLastWindowClosed(False)
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        with loop:
            seconds = loop.run_until_complete(measure(mirror, Path(scratch) / "data", args.events))
    print(f"first painted tail rows after {seconds * 1000:.0f} ms")
    print(f"ratio to the {TARGET_SECONDS:.0f} s target: {seconds / TARGET_SECONDS:.2f}")


if __name__ == "__main__":
    main()
