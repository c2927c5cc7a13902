"""The window's file jobs (Save mirror as, Export JSONL): one at a time, with progress and a
cancel in the status bar; the writing itself is in ui/file_jobs.py."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMainWindow

from mirror.mirror_files import is_part_of_mirror
from ui.file_jobs import (
    JobCancelled,
    JobProgress,
    finish_partial,
    listed_events_json,
    partial_path,
    write_jsonl,
    write_lines,
)
from ui.job_bar import JobBar
from ui.labels import counted
from ui.offload import run_blocking, spawn
from ui.stream_pane import StreamPane

log = logging.getLogger(__name__)


class FileJobRunner(QObject):
    # A job started or ended: the window re-checks its Cancel action.
    runningChanged = Signal()

    def __init__(self, window: QMainWindow, current: Callable[[], StreamPane | None]) -> None:
        super().__init__(window)
        self._window = window
        self._current = current
        self.job_bar = JobBar()

    @property
    def running(self) -> bool:
        return self.job_bar.running

    def _message(self, text: str, timeout_ms: int) -> None:
        self._window.statusBar().showMessage(text, timeout_ms)

    def save_mirror_as(self, target: Path | None = None) -> None:
        pane = self._current()
        if pane is None or self._busy():
            return
        runtime = pane.runtime
        if target is None:
            chosen, _ = QFileDialog.getSaveFileName(
                self._window,
                "Save mirror as",
                str(Path.home() / runtime.mirror_file.name),
                "SQLite databases (*.sqlite3 *.sqlite *.db)",
            )
            if not chosen:
                return
            target = Path(chosen)
        destination = target
        if is_part_of_mirror(destination, runtime.mirror_file):
            self._message("Cannot save a copy over the live mirror; choose another file", 10000)
            return
        progress = JobProgress()

        def copied(done: int, total: int) -> None:
            # Whole megabytes, rounded up, so a small mirror does not read "0 / 0 MB".
            progress.update(-(-done // 1_000_000), -(-total // 1_000_000))

        async def save() -> str:
            partial = partial_path(destination)
            try:
                await runtime.save_copy(partial, copied)
                finish_partial(partial, destination, progress)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            return f"Saved the mirror as {destination}"

        self._run(f"Saving mirror as {destination.name}", progress, "MB", save())

    def export_jsonl(self, target: Path | None = None) -> None:
        pane = self._current()
        if pane is None or self._busy():
            return
        if target is None:
            chosen, _ = QFileDialog.getSaveFileName(
                self._window,
                "Export events as JSONL",
                str(Path.home() / "events.jsonl"),
                "JSONL (*.jsonl)",
            )
            if not chosen:
                return
            target = Path(chosen)
        destination = target
        model = pane.raw_view.model
        types, query, shown = model.types, model.list_query, model.rowCount()
        reader = pane.runtime.reader
        progress = JobProgress()

        def write() -> int:
            if query.where is None:
                return write_jsonl(reader, types, destination, progress)
            # A field filter: the events the list shows, as many as it counts.
            lines = listed_events_json(model.lookups, query)
            return write_lines(lines, shown, destination, progress)

        async def export() -> str:
            written = await run_blocking(write, long=True)
            return f"Exported {counted(written, 'event')} to {destination}"

        self._run("Exporting JSONL", progress, "event", export())

    def cancel(self) -> None:
        self.job_bar.cancel()

    def _busy(self) -> bool:
        if self.job_bar.running:
            self._message("Another export or save is running (Esc cancels it)", 5000)
        return self.job_bar.running

    def _run(
        self,
        title: str,
        progress: JobProgress,
        noun: str | None,
        job: Coroutine[Any, Any, str],
    ) -> None:
        """Run a file job with its progress in the status bar until it ends or is cancelled."""
        self.job_bar.start(title, progress, noun)
        self.runningChanged.emit()

        async def run() -> None:
            try:
                message = await job
            except JobCancelled:
                message = f"{title}: cancelled, no file written"
            except Exception as error:
                log.info("%s failed: %s", title, error)
                message = f"{title} failed: {error}"
            finally:
                self.job_bar.stop()
                self.runningChanged.emit()
            self._message(message, 10000)

        spawn(run(), what=title, owner=self._window)
