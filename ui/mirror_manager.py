"""Tools › Local mirrors…: every mirror on disk with its server, namespace, path, events, size,
when it last changed and its archives; open one, reveal it in the file manager, or delete it
(after a confirmation, and never while a process writes it)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mirror.mirror_removal import MirrorInUse, delete_mirror, disk_usage
from mirror.runtime import MirrorInfo
from ui.labels import counted, server_label, size_text, synced_text
from ui.offload import run_blocking, spawn
from ui.palette import error_text_style, widget_is_dark
from ui.ports import RegistryLike
from ui.targets import StreamTarget

COLUMNS = ("Server", "Namespace", "Path", "Events", "Size", "Last synced", "Archives", "File")
_INFO_ROLE = 0x0100 + 7


class MirrorManager(QDialog):
    """Lists mirrors through the registry; ``openTarget`` asks the window to open one."""

    openTarget = Signal(object)

    def __init__(
        self,
        registry: RegistryLike,
        *,
        embedded_url: str | None,
        open_files: Callable[[], set[Path]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Local mirrors")
        self.resize(980, 420)
        self._registry = registry
        self._embedded_url = embedded_url
        self._open_files = open_files
        # Tests answer the confirmation themselves.
        self.confirm = True
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setAccessibleName("Local mirrors")
        self.tree.setRootIsDecorated(True)
        self.tree.itemActivated.connect(lambda item, _column: self.open_selected())
        self.tree.itemSelectionChanged.connect(self._selection_changed)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Mirror manager message")
        self.open_button = QPushButton("Open")
        self.reveal_button = QPushButton("Reveal in file manager")
        self.delete_button = QPushButton("Delete…")
        self.refresh_button = QPushButton("Refresh")
        self.open_button.clicked.connect(self.open_selected)
        self.reveal_button.clicked.connect(self.reveal_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        self.refresh_button.clicked.connect(self.refresh)
        buttons = QHBoxLayout()
        for button in (self.open_button, self.reveal_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        layout.addWidget(close)
        self.loading = False
        self._selection_changed()
        self.refresh()

    # --- listing ---------------------------------------------------------------------------

    def refresh(self) -> None:
        self.loading = True
        spawn(self._load(), what="listing local mirrors", owner=self)

    async def _load(self) -> None:
        mirrors: Sequence[MirrorInfo] = await run_blocking(self._registry.list_mirrors)
        usage = await run_blocking(_usage_of, mirrors)
        now = time.time()
        self.tree.clear()
        ordered = sorted(mirrors, key=lambda m: (m.server_url or "", m.namespace, m.path))
        for info in ordered:
            item = self._item(self.tree.invisibleRootItem(), info, usage, now)
            for archive in reversed(info.archives):
                self._item(item, archive, usage, now)
        for column in range(len(COLUMNS) - 1):
            self.tree.resizeColumnToContents(column)
        self.loading = False
        self._selection_changed()

    def _item(
        self,
        parent: QTreeWidgetItem,
        info: MirrorInfo,
        usage: dict[Path, tuple[int, float | None]],
        now: float,
    ) -> QTreeWidgetItem:
        size, changed = usage.get(info.file, (0, None))
        archived = info.archived_at is not None
        path = (
            f"archive of {info.incarnation or 'an unknown incarnation'}" if archived else info.path
        )
        item = QTreeWidgetItem(
            parent,
            [
                server_label(info.server_url, embedded_url=self._embedded_url)
                if info.server_url
                else "unknown server",
                info.namespace,
                path,
                f"{info.event_count:,}",
                size_text(size),
                synced_text(changed, now),
                str(len(info.archives)) if info.archives else "",
                str(info.file),
            ],
        )
        item.setData(0, _INFO_ROLE, info)
        item.setToolTip(7, str(info.file))
        return item

    def item_for(self, file: Path) -> QTreeWidgetItem | None:
        pending = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        while pending:
            item = pending.pop()
            if item is None:
                continue
            if item.text(7) == str(file):
                return item
            pending.extend(item.child(i) for i in range(item.childCount()))
        return None

    def _selected(self) -> MirrorInfo | None:
        items = self.tree.selectedItems()
        info = items[0].data(0, _INFO_ROLE) if items else None
        return info if isinstance(info, MirrorInfo) else None

    def _selection_changed(self) -> None:
        chosen = self._selected() is not None
        for button in (self.open_button, self.reveal_button, self.delete_button):
            button.setEnabled(chosen)

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message.setStyleSheet(error_text_style(widget_is_dark(self)) if error else "")
        self.message.setText(text)

    # --- actions ---------------------------------------------------------------------------

    def open_selected(self) -> None:
        info = self._selected()
        if info is not None:
            self.openTarget.emit(StreamTarget(None, info.namespace, info.path, info.file))

    def reveal_selected(self) -> None:
        info = self._selected()
        if info is not None:
            # File managers open the folder; selecting the file itself is not portable.
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(info.file.parent)))

    def delete_selected(self) -> None:
        info = self._selected()
        if info is None:
            return
        if info.file in self._open_files():
            self._say(f"{info.path} is open in a window here: close it first.", error=True)
            return
        archives = [a.file for a in info.archives]
        what = f"the local mirror of {info.path} ({counted(info.event_count, 'event')})"
        if info.archived_at is not None:
            what = f"this archive of {info.path}"
        elif archives:
            what += f" and its {counted(len(archives), 'archive')}"
        if self.confirm:
            answer = QMessageBox.question(
                self,
                "Delete local mirror",
                f"Delete {what} from disk? The server keeps its events; opening the stream "
                "again mirrors it anew.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        spawn(self._delete(info, archives), what="deleting a mirror", owner=self)

    async def _delete(self, info: MirrorInfo, archives: list[Path]) -> None:
        try:
            await run_blocking(delete_mirror, info.file, archives)
        except MirrorInUse as error:
            self._say(f"Not deleted: {error}.", error=True)
            return
        except OSError as error:
            self._say(f"Could not delete {info.file}: {error.strerror or error}", error=True)
            return
        self._say(f"Deleted the local mirror of {info.path}.")
        self.refresh()


def _usage_of(mirrors: Sequence[MirrorInfo]) -> dict[Path, tuple[int, float | None]]:
    files = [m.file for m in mirrors] + [a.file for m in mirrors for a in m.archives]
    return {file: disk_usage(file) for file in files}
