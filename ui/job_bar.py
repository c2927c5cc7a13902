"""The status bar's file job: what is being written, how far it got, and a Cancel button."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from ui.file_jobs import JobProgress
from ui.labels import job_text

POLL_MS = 100


class JobBar(QWidget):
    """Shows one running job; the worker thread only counts, this widget reads the count."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setAccessibleName("File job")
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(160)
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop writing the file (Esc); nothing is left behind")
        self.cancel_button.clicked.connect(self.cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self._progress: JobProgress | None = None
        self._title = ""
        self._noun: str | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._update)
        self.hide()

    @property
    def running(self) -> bool:
        return self._progress is not None

    def start(self, title: str, progress: JobProgress, noun: str | None) -> None:
        self._progress, self._title, self._noun = progress, title, noun
        self.cancel_button.setEnabled(True)
        self._update()
        self._timer.start()
        self.show()

    def cancel(self) -> None:
        """Ask the job to stop; it reports back (and cleans up) when its worker notices."""
        if self._progress is not None and not self._progress.cancelled:
            self._progress.cancel()
            self.cancel_button.setEnabled(False)
            self.label.setText(f"{self._title}: cancelling…")

    def stop(self) -> None:
        self._timer.stop()
        self._progress = None
        self.hide()

    def _update(self) -> None:
        progress = self._progress
        if progress is None or progress.cancelled:
            return
        self.label.setText(job_text(self._title, progress.done, progress.total, self._noun))
        if self._noun is None or progress.total is None:
            self.bar.setRange(0, 0)  # busy: nothing to count
        else:
            self.bar.setRange(0, max(1, progress.total, progress.done))
            self.bar.setValue(progress.done)
