"""The main window: stream editors and server picker, panes side by side, the stream browser,
menus and toolbar for every action, and a status bar with catch-up progress."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QToolBar,
)

from ui.action_specs import build_actions, update_enabled
from ui.app_context import AppContext
from ui.file_job_runner import FileJobRunner
from ui.labels import catchup_text, counted, server_label, window_title
from ui.mirror_manager import MirrorManager
from ui.palette import error_text_style, is_dark
from ui.pane_state import EDIT_SERVER, RETRY, WORK_OFFLINE
from ui.server_actions import ServerActions
from ui.stream_actions import StreamActions
from ui.stream_address import StreamPathError, normalize_namespace, normalize_path
from ui.stream_browser import OPEN_SPLIT, OPEN_WINDOW, StreamBrowser
from ui.stream_pane import StreamPane
from ui.targets import ServerEntry, StreamTarget
from ui.window_actions import MENUS, WINDOW_ACTIONS

log = logging.getLogger(__name__)

_ADD_SERVER = "Add server…"


class MainWindow(QMainWindow):
    def __init__(self, ctx: AppContext[MainWindow], target: StreamTarget) -> None:
        super().__init__()
        self.ctx = ctx
        self.panes: list[StreamPane] = []
        self.current: StreamPane | None = None
        self.stream_actions = StreamActions(self, ctx, lambda: self.current)
        self.server_actions = ServerActions(self, ctx, self._chosen_server)
        self.file_jobs = FileJobRunner(self, lambda: self.current)
        self.file_jobs.runningChanged.connect(self._update_actions)
        self.resize(1200, 780)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.setCentralWidget(self.splitter)
        self._build_editors()
        self._build_actions()
        self._build_status_bar()
        self.browser = StreamBrowser(ctx)
        self.browser.openTarget.connect(self._open_from_browser)
        self.browser_dock = QDockWidget("Streams", self)
        self.browser_dock.setObjectName("stream-browser")
        self.browser_dock.setWidget(self.browser)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.browser_dock)
        self.resizeDocks([self.browser_dock], [260], Qt.Orientation.Horizontal)
        self.view_menu.addAction(self.browser_dock.toggleViewAction())
        self.browser_dock.toggleViewAction().setShortcut(QKeySequence("Ctrl+B"))
        ctx.serversChanged.connect(self._fill_servers)

        self.open_target(target)
        self.browser.refresh_recent()
        self.browser.refresh_mirrors()

    # --- building --------------------------------------------------------------------------

    def _build_editors(self) -> None:
        bar = QToolBar("Stream")
        bar.setObjectName("stream-toolbar")
        bar.setMovable(False)
        self.addToolBar(bar)
        self.server_combo = QComboBox()
        self.server_combo.setAccessibleName("Server")
        self.server_combo.setToolTip("Server to open streams on")
        self.server_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self._fill_servers()
        self.server_combo.activated.connect(self._server_chosen)
        self.namespace_edit = QLineEdit()
        self.namespace_edit.setAccessibleName("Stream namespace")
        self.namespace_edit.setPlaceholderText("default")
        self.namespace_edit.setMaximumWidth(140)
        self.namespace_edit.returnPressed.connect(self.go)
        self.path_edit = QLineEdit()
        self.path_edit.setAccessibleName("Stream path")
        self.path_edit.setPlaceholderText("/path/of/stream")
        self.path_edit.setToolTip("Stream path (Ctrl+L); Enter opens it")
        self.path_edit.setMinimumWidth(260)
        self.path_edit.returnPressed.connect(self.go)
        self.go_button = QPushButton("Go")
        self.go_button.setToolTip("Open this stream in the current pane (Enter)")
        self.go_button.clicked.connect(self.go)
        bar.addWidget(QLabel(" Server "))
        bar.addWidget(self.server_combo)
        bar.addWidget(QLabel("  Namespace "))
        bar.addWidget(self.namespace_edit)
        bar.addWidget(QLabel("  Path "))
        bar.addWidget(self.path_edit)
        bar.addWidget(self.go_button)
        self.path_error = QLabel()
        self.path_error.setAccessibleName("Stream path error")
        self.path_error.setStyleSheet(error_text_style(is_dark()))
        self.path_error_action = bar.addWidget(self.path_error)
        self.path_error_action.setVisible(False)
        self.path_edit.textEdited.connect(lambda _text: self.path_error_action.setVisible(False))
        self.actions_bar = QToolBar("Actions")
        self.actions_bar.setObjectName("actions-toolbar")
        self.actions_bar.setMovable(False)
        self.actions_bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBarBreak()
        self.addToolBar(self.actions_bar)

    def _fill_servers(self) -> None:
        combo = self.server_combo
        current = combo.currentData()
        combo.blockSignals(True)
        combo.clear()
        for server in self.ctx.servers():
            # The embedded server's URL shows too: the CLI verbs need it.
            combo.addItem(f"{server.name} ({server.url})", server)
        combo.addItem(_ADD_SERVER, None)
        if isinstance(current, ServerEntry):
            self._select_server(current)
        combo.blockSignals(False)

    def _select_server(self, server: ServerEntry | None) -> None:
        for i in range(self.server_combo.count()):
            if self.server_combo.itemData(i) == server:
                self.server_combo.setCurrentIndex(i)
                return

    def _build_actions(self) -> None:
        bar = self.menuBar()
        self._menus = {name: bar.addMenu(title) for name, title in MENUS}
        self.view_menu = self._menus["view"]
        self.menu_actions = build_actions(WINDOW_ACTIONS, self, self, self._menus, self.actions_bar)
        self.view_menu.addSeparator()

    def _update_actions(self) -> None:
        update_enabled(WINDOW_ACTIONS, self, self.menu_actions)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.status_label = QLabel()
        self.status_label.setAccessibleName("Status")
        self.catchup_label = QLabel()
        self.catchup_bar = QProgressBar()
        self.catchup_bar.setMaximumWidth(180)
        self.catchup_bar.setTextVisible(False)
        self.catchup_label.hide()
        self.catchup_bar.hide()
        status.addWidget(self.status_label, 1)
        status.addPermanentWidget(self.catchup_label)
        status.addPermanentWidget(self.catchup_bar)
        status.addPermanentWidget(self.file_jobs.job_bar)

    # --- panes -----------------------------------------------------------------------------

    def open_target(self, target: StreamTarget, *, split: bool = False) -> StreamPane:
        """Show a stream in the current pane (or in a new pane beside it)."""
        runtime = self.ctx.acquire(target)
        name = self._server_name(target)
        pane = StreamPane(runtime, target, server_name=name)
        pane.focused.connect(self._pane_focused)
        pane.statusChanged.connect(self._pane_status)
        pane.openStream.connect(lambda path, p=pane: self._open_child(p, path))
        pane.closeRequested.connect(self.close_pane)
        pane.actionRequested.connect(self._pane_action)
        if runtime.server_url is not None:
            draft = self.ctx.settings.composer_draft(runtime.namespace, runtime.path)
            if draft is not None:
                pane.composer.restore_draft(draft)
        old = self.current
        if split or old is None:
            index = self.splitter.indexOf(old) + 1 if old is not None else 0
            self.splitter.insertWidget(index, pane)
            self.panes.insert(index, pane)
        else:
            index = self.panes.index(old)
            pane.show_view(old.current_view_index())
            self.splitter.replaceWidget(index, pane)
            self.panes[index] = pane
            self._release_pane(old)
            old.deleteLater()
        self._update_closable()
        self._make_current(pane)
        return pane

    def _release_pane(self, pane: StreamPane) -> None:
        """Keep the pane's unsent composer text for the next time its stream opens, and let
        go of the stream."""
        runtime = pane.runtime
        if runtime.server_url is not None:
            self.ctx.settings.save_composer_draft(
                runtime.namespace, runtime.path, pane.composer.unsent_text()
            )
        pane.close_stream()

    def _server_name(self, target: StreamTarget) -> str:
        if target.server is None:
            return "offline mirror"
        return server_label(target.server.url, embedded_url=self.ctx.embedded_url)

    def _update_closable(self) -> None:
        for pane in self.panes:
            pane.close_button.setVisible(len(self.panes) > 1)
        widths = [max(1, self.splitter.width() // max(1, len(self.panes)))] * len(self.panes)
        self.splitter.setSizes(widths)

    def focus_pane(self, pane: StreamPane) -> None:
        pane.tabs.currentWidget().setFocus()
        self._pane_focused(pane)

    def _pane_focused(self, pane: StreamPane) -> None:
        if pane is not self.current:
            self._make_current(pane)

    def _make_current(self, pane: StreamPane) -> None:
        """Point the editors, actions and stream browser at this pane."""
        if pane not in self.panes:
            return
        self.current = pane
        for other in self.panes:
            other.setProperty("current", other is pane and len(self.panes) > 1)
            other.setStyleSheet("StreamPane[current=true] { border: 1px solid palette(highlight) }")
        target = pane.target
        if target.server is not None:
            self._select_server(target.server)
        self.namespace_edit.setText(pane.runtime.namespace)
        self.path_edit.setText(pane.runtime.path)
        live = pane.runtime.server_url is not None
        self.browser.set_source(
            target.server, pane.runtime.namespace, pane.runtime.child_paths if live else None
        )
        self._update_actions()
        self._pane_status(pane)

    def _pane_status(self, pane: StreamPane) -> None:
        if pane is not self.current:
            return
        status = pane.status
        self.setWindowTitle(
            window_title(pane.runtime.path, pane.runtime.namespace, pane.server_name)
        )
        # The pane's banner carries the error: the status bar only names the state.
        summary = pane.state.summary if pane.state is not None else status.connection
        self.status_label.setText(f"{summary} · {counted(status.event_count, 'event')}")
        catchup = status.catchup
        self.catchup_label.setVisible(catchup is not None)
        self.catchup_bar.setVisible(catchup is not None)
        if catchup is not None:
            self.catchup_label.setText(catchup_text(catchup.done, catchup.total, catchup.rate))
            self.catchup_bar.setRange(0, max(1, catchup.total))
            self.catchup_bar.setValue(min(catchup.done, catchup.total))

    def split(self) -> StreamPane | None:
        if self.current is None:
            return None
        return self.open_target(self.current.target, split=True)

    def close_pane(self, pane: StreamPane) -> None:
        if len(self.panes) <= 1 or pane not in self.panes:
            return
        index = self.panes.index(pane)
        self.panes.remove(pane)
        self._release_pane(pane)
        pane.setParent(None)
        pane.deleteLater()
        self._update_closable()
        self._make_current(self.panes[min(index, len(self.panes) - 1)])

    def close_current_pane(self) -> None:
        if self.current is not None:
            self.close_pane(self.current)

    def next_pane(self) -> None:
        if self.current is not None and len(self.panes) > 1:
            following = self.panes[(self.panes.index(self.current) + 1) % len(self.panes)]
            following.tabs.currentWidget().setFocus()
            self._make_current(following)

    def _open_child(self, pane: StreamPane, path: str) -> None:
        self._pane_focused(pane)
        if pane.target.server is None:
            self.statusBar().showMessage("Child streams open only with a server connection", 5000)
            return
        opened = self.open_checked(StreamTarget(pane.target.server, pane.runtime.namespace, path))
        if opened is not None:
            opened.show_view(1)

    def _pane_action(self, pane: StreamPane, action: str) -> None:
        """A button of a pane's error banner."""
        self._pane_focused(pane)
        if action == RETRY:
            self.stream_actions.reconnect()
        elif action == EDIT_SERVER and pane.target.server is not None:
            self.server_actions.edit_server(pane.target.server)
        elif action == WORK_OFFLINE:
            if not pane.runtime.mirror_file.exists():
                self.statusBar().showMessage(
                    f"There is no local mirror of {pane.runtime.path} to work on offline yet", 8000
                )
                return
            target = StreamTarget(
                None, pane.runtime.namespace, pane.runtime.path, pane.runtime.mirror_file
            )
            self.open_checked(target)

    def _open_from_browser(self, target: StreamTarget, how: int) -> None:
        if how == OPEN_WINDOW:
            self.ctx.new_window(target)
        else:
            self.open_checked(target, split=how == OPEN_SPLIT)

    # --- editors ---------------------------------------------------------------------------

    def go(self) -> None:
        """Open the stream named by the editors in the current pane."""
        try:
            path = normalize_path(self.path_edit.text())
        except StreamPathError as error:
            # Said beside the field it is about, where the eye already is.
            self.path_error.setText(f"  {error}")
            self.path_error_action.setVisible(True)
            self.path_edit.setFocus()
            return
        self.path_error_action.setVisible(False)
        namespace = normalize_namespace(self.namespace_edit.text())
        server = self.server_combo.currentData()
        if not isinstance(server, ServerEntry):
            server = self.ctx.default_server
        self.path_edit.setText(path)
        self.namespace_edit.setText(namespace)
        self.open_checked(StreamTarget(server, namespace, path))

    def open_checked(self, target: StreamTarget, *, split: bool = False) -> StreamPane | None:
        """Open a target the user chose; a refusal (bad path, unreadable file) is shown."""
        try:
            return self.open_target(target, split=split)
        except Exception as error:
            log.info("could not open %s: %s", target.path, error)
            self.statusBar().showMessage(f"Could not open {target.path}: {error}", 10000)
            return None

    def _server_chosen(self, index: int) -> None:
        if self.server_combo.itemData(index) is None:
            self.add_server()

    def focus_path(self) -> None:
        self.path_edit.setFocus()
        self.path_edit.selectAll()

    def focus_namespace(self) -> None:
        self.namespace_edit.setFocus()
        self.namespace_edit.selectAll()

    def open_mirror_file(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(
            self, "Open mirror file", "", "SQLite databases (*.sqlite3 *.sqlite *.db)"
        )
        if chosen:
            self.open_checked(StreamTarget(None, "default", "/", mirror_file=Path(chosen)))

    def open_mirror_manager(self) -> MirrorManager:
        manager = MirrorManager(
            self.ctx.registry,
            embedded_url=self.ctx.embedded_url,
            open_files=self._open_mirror_files,
            parent=self,
        )
        manager.openTarget.connect(self.open_checked)
        manager.finished.connect(lambda _result: self.browser.refresh_mirrors())
        manager.open()
        return manager

    def _open_mirror_files(self) -> set[Path]:
        windows = [w for w in self.ctx.windows if isinstance(w, MainWindow)]
        return {pane.runtime.mirror_file for w in windows for pane in w.panes}

    def new_window(self) -> None:
        self.ctx.new_window(self.current.target if self.current is not None else None)

    # --- servers ---------------------------------------------------------------------------

    def _chosen_server(self) -> ServerEntry | None:
        server = self.server_combo.currentData()
        return server if isinstance(server, ServerEntry) else None

    def add_server(self) -> None:
        dialog = self.server_actions.add_server(on_saved=self._select_server)
        dialog.rejected.connect(self._reselect_current_server)

    def _reselect_current_server(self) -> None:
        if self.current is not None and self.current.target.server is not None:
            self._select_server(self.current.target.server)

    def remove_server(self) -> None:
        self.server_actions.remove_server()

    def show_shortcuts(self) -> None:
        lines = [
            f"{action.shortcut().toString():<22} {action.text().replace('&', '')}"
            for menu in self._menus.values()
            for action in menu.actions()
            if not action.shortcut().isEmpty()
        ]
        lines.append(f"{'Ctrl+Enter':<22} Append the composer's event / run a console query")
        box = QMessageBox(self)
        box.setWindowTitle("Keyboard shortcuts")
        box.setText("<pre>" + "\n".join(lines) + "</pre>")
        box.exec()

    # --- closing ---------------------------------------------------------------------------

    def quit_app(self) -> None:
        self.ctx.quit()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.ctx.window_closing(self)
        # A file still being written would outlive its window: stop it (it deletes its partial).
        self.file_jobs.cancel()
        self.stream_actions.close_consoles()
        for pane in self.panes:
            self._release_pane(pane)
        self.panes.clear()
        self.current = None
        super().closeEvent(event)
        self.ctx.window_closed(self)
