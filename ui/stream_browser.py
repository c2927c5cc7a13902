"""The stream browser: the server's stream tree (from childPaths, starting at '/'), recent
streams, and every local mirror on disk (each opens offline)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mirror.runtime import MirrorInfo
from ui.app_context import AppContext
from ui.labels import server_label
from ui.offload import run_blocking, spawn
from ui.pane_state import plain_error, server_host
from ui.stream_address import last_segment
from ui.targets import ServerEntry, StreamTarget

log = logging.getLogger(__name__)

TARGET_ROLE = Qt.ItemDataRole.UserRole + 1
LOADED_ROLE = Qt.ItemDataRole.UserRole + 2
ChildPaths = Callable[[str], Awaitable[list[str]]]

OPEN_HERE, OPEN_SPLIT, OPEN_WINDOW = 0, 1, 2


class StreamBrowser(QWidget):
    openTarget = Signal(object, int)  # StreamTarget, OPEN_HERE | OPEN_SPLIT | OPEN_WINDOW

    def __init__(self, ctx: AppContext[Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._server: ServerEntry | None = None
        self._namespace = "default"
        self._child_paths: ChildPaths | None = None
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Stream", "Events"])
        self.tree.setAccessibleName("Stream browser")
        self.tree.setColumnWidth(0, 200)
        self.tree.itemExpanded.connect(self._expanded)
        self.tree.itemActivated.connect(lambda item, _column: self._open(item, OPEN_HERE))
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self.streams_root = QTreeWidgetItem(self.tree, ["Streams"])
        self.recent_root = QTreeWidgetItem(self.tree, ["Recent"])
        self.mirrors_root = QTreeWidgetItem(self.tree, ["Local mirrors"])
        for root in (self.streams_root, self.recent_root, self.mirrors_root):
            root.setFlags(Qt.ItemFlag.ItemIsEnabled)
            root.setExpanded(True)
        refresh = QPushButton("Refresh")
        refresh.setToolTip("Reload the stream tree and the local mirrors")
        refresh.clicked.connect(self.refresh)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: palette(placeholder-text)")
        top = QHBoxLayout()
        top.addWidget(self.note, 1)
        top.addWidget(refresh)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.tree, 1)
        ctx.recentChanged.connect(self.refresh_recent)
        self._reset_tree()

    def set_source(
        self, server: ServerEntry | None, namespace: str, child_paths: ChildPaths | None
    ) -> None:
        """Browse this server's tree (child_paths None: offline, no tree)."""
        if (server, namespace) == (self._server, self._namespace) and (child_paths is None) == (
            self._child_paths is None
        ):
            self._child_paths = child_paths
            return
        self._server, self._namespace, self._child_paths = server, namespace, child_paths
        self._reset_tree()

    def refresh(self) -> None:
        self._reset_tree()
        self.refresh_recent()
        self.refresh_mirrors()

    # --- stream tree -----------------------------------------------------------------------

    def _reset_tree(self) -> None:
        self.streams_root.takeChildren()
        if self._server is None or self._child_paths is None:
            self.streams_root.setText(0, "Streams (offline)")
            self.note.setText("Offline: the stream tree needs a server.")
            return
        self.streams_root.setText(0, f"Streams on {self._server.name}")
        self.note.setText(f"Namespace {self._namespace}")
        root = self._stream_item(self.streams_root, "/")
        root.setExpanded(True)

    def _stream_item(self, parent: QTreeWidgetItem, path: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem(parent, [last_segment(path), ""])
        item.setToolTip(0, path)
        item.setData(0, TARGET_ROLE, StreamTarget(self._server, self._namespace, path))
        item.setData(0, LOADED_ROLE, False)
        item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
        return item

    def _expanded(self, item: QTreeWidgetItem) -> None:
        target = item.data(0, TARGET_ROLE)
        if not isinstance(target, StreamTarget) or item.data(0, LOADED_ROLE) is not False:
            return
        if self._child_paths is None or target.server is None:
            return
        item.setData(0, LOADED_ROLE, True)
        spawn(
            self._load_children(item, target.path, self._child_paths),
            what="listing streams",
            owner=self,
        )

    async def _load_children(
        self, item: QTreeWidgetItem, path: str, child_paths: ChildPaths
    ) -> None:
        try:
            children = sorted(await child_paths(path))
        except Exception as error:
            item.setData(0, LOADED_ROLE, False)
            host = server_host(self._server.url if self._server is not None else None)
            failed = QTreeWidgetItem(item, [plain_error(str(error), host=host)])
            failed.setToolTip(0, failed.text(0))
            failed.setFlags(Qt.ItemFlag.NoItemFlags)
            return
        item.takeChildren()
        for child in children:
            self._stream_item(item, child)
        if not children:
            item.setChildIndicatorPolicy(
                QTreeWidgetItem.ChildIndicatorPolicy.DontShowIndicatorWhenChildless
            )

    def tree_paths(self) -> list[str]:
        """Every stream path currently shown in the tree (expanded or not)."""
        paths: list[str] = []
        pending = [self.streams_root]
        while pending:
            item = pending.pop()
            target = item.data(0, TARGET_ROLE)
            if isinstance(target, StreamTarget):
                paths.append(target.path)
            pending.extend(_children(item))
        return sorted(paths)

    # --- recent and mirrors ----------------------------------------------------------------

    def refresh_recent(self) -> None:
        self.recent_root.takeChildren()
        for recent in self._ctx.settings.recent_streams():
            server = self._ctx.server_for_url(recent.server_url)
            if server is None:
                continue
            label = (
                recent.path
                if recent.namespace == "default"
                else f"{recent.namespace}:{recent.path}"
            )
            item = QTreeWidgetItem(self.recent_root, [label, ""])
            item.setToolTip(0, f"{recent.path} on {server.name}")
            item.setData(0, TARGET_ROLE, StreamTarget(server, recent.namespace, recent.path))

    def refresh_mirrors(self) -> None:
        spawn(self._load_mirrors(), what="listing local mirrors", owner=self)

    async def _load_mirrors(self) -> None:
        mirrors: Sequence[MirrorInfo] = await run_blocking(self._ctx.registry.list_mirrors)
        self.mirrors_root.takeChildren()
        labels = [_mirror_label(m) for m in mirrors]
        for info in sorted(mirrors, key=lambda m: (m.server_url or "", m.namespace, m.path)):
            where = info.server_url or "unknown server"
            label = _mirror_label(info)
            if labels.count(label) > 1:
                # The same stream path mirrored from several servers: say which is which.
                server = server_label(info.server_url, embedded_url=self._ctx.embedded_url)
                label += f" · {server if info.server_url else where}"
            if info.archived_at is not None:
                label += f" (archive of {info.incarnation or 'an unknown incarnation'})"
            item = QTreeWidgetItem(self.mirrors_root, [label, f"{info.event_count:,}"])
            item.setToolTip(0, f"{info.path} from {where}\n{info.file}")
            item.setData(
                0, TARGET_ROLE, StreamTarget(None, info.namespace, info.path, mirror_file=info.file)
            )
            for archive in reversed(info.archives):
                child = QTreeWidgetItem(
                    item, [f"archive: {archive.incarnation}", f"{archive.event_count:,}"]
                )
                child.setToolTip(
                    0,
                    f"{info.path} before the reset of {archive.archived_at} (read-only)\n"
                    f"{archive.file}",
                )
                child.setData(
                    0,
                    TARGET_ROLE,
                    StreamTarget(None, info.namespace, info.path, mirror_file=archive.file),
                )

    def mirror_item(self, path: str) -> QTreeWidgetItem | None:
        items = self.mirror_items(path)
        return items[0] if items else None

    def mirror_items(self, path: str) -> list[QTreeWidgetItem]:
        return [
            item
            for item in _children(self.mirrors_root)
            if item.text(0) == path or item.text(0).startswith(f"{path} · ")
        ]

    # --- opening ---------------------------------------------------------------------------

    def _open(self, item: QTreeWidgetItem, how: int) -> None:
        target = item.data(0, TARGET_ROLE)
        if isinstance(target, StreamTarget):
            self.openTarget.emit(target, how)

    def _context_menu(self, position: QPoint) -> None:
        item = self.tree.itemAt(position)
        if item is None or not isinstance(item.data(0, TARGET_ROLE), StreamTarget):
            return
        menu = QMenu(self)
        menu.addAction("Open", lambda: self._open(item, OPEN_HERE))
        menu.addAction("Open in split", lambda: self._open(item, OPEN_SPLIT))
        menu.addAction("Open in new window", lambda: self._open(item, OPEN_WINDOW))
        menu.exec(self.tree.viewport().mapToGlobal(position))


def _mirror_label(info: MirrorInfo) -> str:
    return info.path if info.namespace == "default" else f"{info.namespace}:{info.path}"


def _children(item: QTreeWidgetItem) -> list[QTreeWidgetItem]:
    children = (item.child(i) for i in range(item.childCount()))
    return [child for child in children if child is not None]
