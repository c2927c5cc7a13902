"""UI benchmark: open a stream holding a 20 MB event and expand it, next to a small event.

Writes a mirror file through the mirror core (a few small events, then one event whose payload
holds a 20 MB string), opens it offline in the raw events view, and expands first a small event
(the baseline) and then the big one, and finally opens the big one in the whole-event viewer.
For each step: the longest Qt event-loop stall (a 5 ms timer's longest gap) and the peak RSS
growth (Linux: the peak is reset through /proc/self/clear_refs before the step). Targets for the
expansion: stall < 100 ms, RSS growth < 100 MB.

    .venv/bin/python bench/big_event.py [--mb 20]
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import qasync
from PySide6.QtWidgets import QApplication
from qt_probe import QtStallProbe

from mirror.db import MirrorDb
from mirror.processors import MirrorWriter
from mirror.runtime import RuntimeRegistry
from ui.offload import drain
from ui.raw_view import RawEventsView

STALL_TARGET_MS = 100.0
RSS_TARGET_MB = 100.0
SMALL_EVENTS = 50


def write_mirror(path: Path, megabytes: int) -> None:
    db = MirrorDb.open(path)
    events = [
        {
            "offset": i + 1,
            "type": "events.iterate.com/bench/small",
            "payload": {"i": i, "note": "a small event"},
            "createdAt": f"2026-06-01T12:00:{i % 60:02d}.000Z",
        }
        for i in range(SMALL_EVENTS)
    ]
    events.append(
        {
            "offset": SMALL_EVENTS + 1,
            "type": "events.iterate.com/bench/big",
            "payload": {"title": "big", "text": "x" * (megabytes * 1024 * 1024)},
            "createdAt": "2026-06-01T12:01:00.000Z",
        }
    )
    MirrorWriter(db).apply_sync(events)
    db.close()


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak() -> int:
    """Reset the peak RSS to the current RSS; returns the RSS in KB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kb("VmRSS")


async def until(check: Callable[[], bool], seconds: float = 120.0) -> None:
    deadline = time.perf_counter() + seconds
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError("the view did not get there in time")
        await asyncio.sleep(0.005)


async def step(
    name: str, action: Callable[[], None], done: Callable[[], bool]
) -> tuple[str, float, float, float]:
    await asyncio.sleep(0.2)  # settle: earlier work has finished
    base = reset_peak()
    probe = QtStallProbe()
    started = time.perf_counter()
    action()
    await until(done)
    seconds = time.perf_counter() - started
    await asyncio.sleep(0.3)  # paints after the result landed count too
    probe.stop()
    growth = (_status_kb("VmHWM") - base) / 1024
    return name, seconds * 1000, probe.worst, growth


def _ignore(_value: object) -> None:
    return None


async def run(mirror: Path, data_dir: Path) -> list[tuple[str, float, float, float]]:
    registry = RuntimeRegistry(data_dir, loop=asyncio.get_running_loop())
    runtime = registry.open_file(mirror)
    runtime.retain()
    views: list[RawEventsView] = []

    def open_view() -> None:
        view = RawEventsView(runtime)
        view.resize(1200, 800)
        view.show()
        views.append(view)

    big_row = SMALL_EVENTS
    results = [
        await step(
            "open the view (rows + previews, big row on screen)",
            open_view,
            lambda: (
                views[0].model.rowCount() == SMALL_EVENTS + 1
                and views[0].model.event_at(big_row) is not None
            ),
        )
    ]
    view = views[0]
    model = view.model
    view.list.scrollToBottom()
    results.append(
        await step(
            "expand a small event (baseline)",
            lambda: model.toggle_expanded(big_row - 1),
            lambda: model.pretty_for_row(big_row - 1) is not None,
        )
    )
    results.append(
        await step(
            "expand the big event",
            lambda: model.toggle_expanded(big_row),
            lambda: model.pretty_for_row(big_row) is not None,
        )
    )
    view.list.setCurrentIndex(model.index(big_row, 0))
    viewers = view.whole_event.viewers
    results.append(
        await step(
            "open the big event in the viewer (not a target)",
            lambda: _ignore(view.whole_event.open_viewer()),
            lambda: bool(viewers) and viewers[0].text is not None,
        )
    )
    for viewer in list(viewers):
        viewer.close()
    view.close()
    await drain()
    runtime.release()
    await registry.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        mirror = root / "big.sqlite3"
        write_mirror(mirror, args.mb)
        print(f"mirror with a {args.mb} MB event: {mirror.stat().st_size / 1e6:.1f} MB on disk")
        app = QApplication.instance() or QApplication([sys.argv[0]])
        assert isinstance(app, QApplication)
        app.setQuitOnLastWindowClosed(False)
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        with loop:
            results = loop.run_until_complete(run(mirror, root / "data"))
    print(f"{'step':<50} {'time ms':>9} {'stall ms':>9} {'RSS +MB':>9}")
    for name, millis, stall, growth in results:
        print(f"{name:<50} {millis:>9.0f} {stall:>9.1f} {growth:>9.1f}")
    small, big = results[1], results[2]
    print(
        f"big / small expansion: stall {big[2] / max(small[2], 0.1):.1f}x, "
        f"RSS growth {big[3]:.1f} MB vs {small[3]:.1f} MB"
    )
    print(
        f"targets: stall {big[2]:.1f} / {STALL_TARGET_MS:.0f} ms = {big[2] / STALL_TARGET_MS:.2f}, "
        f"RSS {big[3]:.1f} / {RSS_TARGET_MB:.0f} MB = {big[3] / RSS_TARGET_MB:.2f}"
    )


if __name__ == "__main__":
    main()
