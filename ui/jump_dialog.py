"""Go to an offset or a time (Ctrl+G) in the raw or feed view: the dialog stays open with the
reason when there is nothing to land on."""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QLineEdit, QVBoxLayout, QWidget

from ui.jump import JumpError, resolve_jump
from ui.mirror_lookups import MirrorLookups
from ui.offload import run_blocking, spawn
from ui.palette import error_text_style, widget_is_dark
from ui.time_display import time_display


class JumpHost(Protocol):
    @property
    def find_lookups(self) -> MirrorLookups: ...
    async def land_on(self, offset: int) -> bool: ...


class JumpDialog(QDialog):
    def __init__(self, host: JumpHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._host = host
        self.landed: int | None = None
        self.setWindowTitle("Go to offset or time")
        zone = "UTC" if time_display().utc else "local time"
        self.edit = QLineEdit()
        self.edit.setAccessibleName("Offset or time")
        self.edit.setPlaceholderText("1234, 14:03, 14:03:05 or 2026-06-01T14:03")
        hint = QLabel(
            f"An offset, or the first event at or after a time ({zone}; a time of day is on"
            " the day of the stream's last event)."
        )
        hint.setWordWrap(True)
        self.message = QLabel()
        self.message.setAccessibleName("Jump message")
        self.message.setStyleSheet(error_text_style(widget_is_dark(self)))
        self.message.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.go)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addWidget(self.edit)
        layout.addWidget(self.message)
        layout.addWidget(buttons)

    def go(self) -> None:
        spawn(self._go(self.edit.text()), what="jumping", owner=self)

    async def _go(self, text: str) -> None:
        lookups = self._host.find_lookups
        try:
            offset = await run_blocking(resolve_jump, lookups, text, time_display().utc)
        except JumpError as error:
            self.message.setText(str(error))
            return
        if not await self._host.land_on(offset):
            self.message.setText(f"no listed event at or after offset {offset:,}")
            return
        self.landed = offset
        self.accept()


def open_jump_dialog(host: JumpHost, parent: QWidget) -> JumpDialog:
    dialog = JumpDialog(host, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
