"""The main window: stream editors and server picker, panes side by side, the stream browser,
menus and toolbar for every action, and a status bar with catch-up progress."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
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

from mirror.mirror_files import is_part_of_mirror
from ui.app_context import AppContext
from ui.file_jobs import (
    JobCancelled,
    JobProgress,
    finish_partial,
    partial_path,
    write_jsonl,
)
from ui.job_bar import JobBar
from ui.labels import catchup_text, counted, server_label, window_title
from ui.offload import run_blocking, spawn
from ui.ports import RuntimeLike
from ui.server_dialog import AddServerDialog
from ui.sql_console import SqlConsole
from ui.stream_address import StreamPathError, normalize_namespace, normalize_path
from ui.stream_browser import OPEN_SPLIT, OPEN_WINDOW, StreamBrowser
from ui.stream_pane import StreamPane
from ui.targets import ServerEntry, StreamTarget

log = logging.getLogger(__name__)

_ADD_SERVER = "Add server…"


class MainWindow(QMainWindow):
    closed = Signal(object)

    def __init__(self, ctx: AppContext, target: StreamTarget) -> None:
        super().__init__()
        self.ctx = ctx
        self.panes: list[StreamPane] = []
        self.current: StreamPane | None = None
        self.confirm_destructive = True
        self._consoles: list[SqlConsole] = []
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
            label = server.name if server.embedded else f"{server.name} ({server.url})"
            combo.addItem(label, server)
        combo.addItem(_ADD_SERVER, None)
        if isinstance(current, ServerEntry):
            self._select_server(current)
        combo.blockSignals(False)

    def _select_server(self, server: ServerEntry | None) -> None:
        for i in range(self.server_combo.count()):
            if self.server_combo.itemData(i) == server:
                self.server_combo.setCurrentIndex(i)
                return

    def _action(
        self,
        menu_name: str,
        text: str,
        slot: Callable[[], object],
        shortcut: str | QKeySequence.StandardKey | None = None,
        *,
        toolbar: bool = False,
        tip: str | None = None,
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(
            (tip or text.rstrip("…")) + (f" ({action.shortcut().toString()})" if shortcut else "")
        )
        action.triggered.connect(lambda _checked=False: slot())
        self._menus[menu_name].addAction(action)
        if toolbar:
            self.actions_bar.addAction(action)
        return action

    def _build_actions(self) -> None:
        bar = self.menuBar()
        self._menus = {
            name: bar.addMenu(title)
            for name, title in (
                ("file", "&File"),
                ("stream", "&Stream"),
                ("view", "&View"),
                ("tools", "&Tools"),
                ("servers", "Se&rvers"),
                ("help", "&Help"),
            )
        }
        self.view_menu = self._menus["view"]
        a = self._action
        a("file", "New window", self.new_window, "Ctrl+N", toolbar=True)
        a("file", "Open mirror file…", self.open_mirror_file, "Ctrl+O")
        self.save_action = a(
            "file", "Save mirror as…", self.save_mirror_as, "Ctrl+Shift+S", toolbar=True
        )
        self.export_action = a(
            "file",
            "Export JSONL…",
            self.export_jsonl,
            "Ctrl+E",
            toolbar=True,
            tip="Export the shown (filtered) events as JSON lines",
        )
        self.cancel_job_action = a(
            "file", "Cancel export or save", self.cancel_job, "Esc", tip="Stop writing the file"
        )
        self.cancel_job_action.setEnabled(False)
        self._menus["file"].addSeparator()
        a("file", "Close window", self.close, "Ctrl+W")
        a("file", "Quit", self._quit, QKeySequence.StandardKey.Quit)

        a("stream", "Go to path", self.focus_path, "Ctrl+L")
        a("stream", "Change namespace", self.focus_namespace, "Ctrl+Shift+L")
        a("stream", "Focus composer", self.focus_composer, "Ctrl+Shift+E")
        self._menus["stream"].addSeparator()
        self.reconnect_action = a("stream", "Reconnect", self.reconnect, "F5", toolbar=True)
        self.kill_action = a(
            "stream",
            "Kill",
            self.kill_stream,
            "Ctrl+Shift+K",
            toolbar=True,
            tip="Stop the stream's server instance (it wakes up on the next request)",
        )
        self.reset_action = a(
            "stream",
            "Reset…",
            self.reset_stream,
            "Ctrl+Shift+R",
            toolbar=True,
            tip="Delete every event of the stream on the server",
        )
        self.clear_action = a(
            "stream",
            "Clear local mirror…",
            self.clear_local,
            "Ctrl+Shift+Backspace",
            toolbar=True,
            tip="Discard the local mirror and sync it again",
        )

        a("view", "Raw events", lambda: self._show_view(0), "Ctrl+1")
        a("view", "Event feed", lambda: self._show_view(1), "Ctrl+2")
        a("view", "State", lambda: self._show_view(2), "Ctrl+3")
        self._menus["view"].addSeparator()
        a("view", "Filter by type", self.focus_type_filter, "Ctrl+Shift+F")
        a("view", "Scroll to top", self.scroll_to_top, "Ctrl+Home")
        a("view", "Scroll to bottom", self.scroll_to_bottom, "Ctrl+End")
        self._menus["view"].addSeparator()
        a(
            "view",
            "New split",
            self.split,
            "Ctrl+T",
            toolbar=True,
            tip="Show the current stream a second time, side by side",
        )
        a("view", "Close split", self.close_current_pane, "Ctrl+Shift+W")
        a("view", "Next pane", self.next_pane, "F6")
        self._menus["view"].addSeparator()

        self.console_action = a(
            "tools",
            "SQL console…",
            self.open_sql_console,
            "Ctrl+Shift+Q",
            toolbar=True,
            tip="Read-only SQL over the current mirror",
        )
        a("tools", "Refresh stream browser", lambda: self.browser.refresh(), "Ctrl+R")

        a("servers", "Add server…", self.add_server)
        a("servers", "Remove server…", self.remove_server)
        a("help", "Keyboard shortcuts", self.show_shortcuts, QKeySequence.StandardKey.HelpContents)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.status_label = QLabel()
        self.status_label.setAccessibleName("Status")
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #b3261e")
        self.catchup_label = QLabel()
        self.catchup_bar = QProgressBar()
        self.catchup_bar.setMaximumWidth(180)
        self.catchup_bar.setTextVisible(False)
        self.catchup_label.hide()
        self.catchup_bar.hide()
        status.addWidget(self.status_label)
        status.addWidget(self.error_label, 1)
        status.addPermanentWidget(self.catchup_label)
        status.addPermanentWidget(self.catchup_bar)
        self.job_bar = JobBar()
        status.addPermanentWidget(self.job_bar)

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
        for action in (
            self.reconnect_action,
            self.kill_action,
            self.reset_action,
            self.clear_action,
        ):
            action.setEnabled(live)
        self._pane_status(pane)

    def _pane_status(self, pane: StreamPane) -> None:
        if pane is not self.current:
            return
        status = pane.status
        self.setWindowTitle(
            window_title(pane.runtime.path, pane.runtime.namespace, pane.server_name)
        )
        self.status_label.setText(
            f"{status.connection} · {status.role} · {counted(status.event_count, 'event')}"
        )
        self.error_label.setText(status.last_error or "")
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
            self.statusBar().showMessage(str(error), 8000)
            self.path_edit.setFocus()
            return
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

    def focus_composer(self) -> None:
        if self.current is not None:
            self.current.composer.editor.setFocus()

    def focus_type_filter(self) -> None:
        if self.current is not None:
            self.current.show_view(0)
            self.current.raw_view.type_filter.setFocus()
            self.current.raw_view.type_filter.showPopup()

    def _show_view(self, index: int) -> None:
        if self.current is not None:
            self.current.show_view(index)

    def scroll_to_top(self) -> None:
        if self.current is not None:
            view = self.current.tabs.currentIndex()
            lists = (self.current.raw_view.list, self.current.feed_view.list)
            if view < len(lists):
                lists[view].scroll_to_top()

    def scroll_to_bottom(self) -> None:
        if self.current is not None:
            view = self.current.tabs.currentIndex()
            lists = (self.current.raw_view.list, self.current.feed_view.list)
            if view < len(lists):
                lists[view].scroll_to_end()

    # --- stream actions --------------------------------------------------------------------

    def _run_action(
        self, label: str, make: Callable[[RuntimeLike], Coroutine[Any, Any, object]]
    ) -> None:
        if self.current is None:
            return
        runtime = self.current.runtime
        self.statusBar().showMessage(f"{label}…")

        async def run() -> None:
            try:
                await make(runtime)
            except Exception as error:
                self.statusBar().showMessage(f"{label} failed: {error}", 10000)
                return
            self.statusBar().showMessage(f"{label}: done", 5000)

        spawn(run(), what=label, owner=self)

    def reconnect(self) -> None:
        if self.current is None:
            return
        runtime = self.current.runtime
        # The token may have been corrected in the server's profile since the stream opened
        # (the fix for an "unauthorized" stream): dial with the profile's token.
        server = self.ctx.server_for_url(runtime.server_url) if runtime.server_url else None
        if server is not None:
            runtime.set_token(server.token)
        runtime.reconnect()
        self.statusBar().showMessage("Reconnecting…", 3000)

    def kill_stream(self) -> None:
        self._run_action("Kill", lambda runtime: runtime.kill())

    def reset_stream(self) -> None:
        if self.current is None:
            return
        if self.confirm_destructive:
            answer = QMessageBox.question(
                self,
                "Reset stream",
                f"Delete every event of {self.current.runtime.path} on the server? "
                "The stream starts again at offset 1.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self._run_action("Reset", lambda runtime: runtime.reset())

    def clear_local(self) -> None:
        if self.current is None:
            return
        if self.confirm_destructive:
            answer = QMessageBox.question(
                self,
                "Clear local mirror",
                f"Discard the local copy of {self.current.runtime.path}? It is rebuilt from the "
                "server, event by event. To keep the events as they are now, use "
                "File › Save mirror as… first.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self._run_action("Clear local mirror", lambda runtime: runtime.clear_local())

    def save_mirror_as(self, target: Path | None = None) -> None:
        if self.current is None or self._job_busy():
            return
        runtime = self.current.runtime
        if target is None:
            chosen, _ = QFileDialog.getSaveFileName(
                self,
                "Save mirror as",
                str(Path.home() / runtime.mirror_file.name),
                "SQLite databases (*.sqlite3 *.sqlite *.db)",
            )
            if not chosen:
                return
            target = Path(chosen)
        destination = target
        if is_part_of_mirror(destination, runtime.mirror_file):
            self.statusBar().showMessage(
                "Cannot save a copy over the live mirror; choose another file", 10000
            )
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

        self._run_job(f"Saving mirror as {destination.name}", progress, "MB", save())

    def export_jsonl(self, target: Path | None = None) -> None:
        if self.current is None or self._job_busy():
            return
        pane = self.current
        if target is None:
            chosen, _ = QFileDialog.getSaveFileName(
                self, "Export events as JSONL", str(Path.home() / "events.jsonl"), "JSONL (*.jsonl)"
            )
            if not chosen:
                return
            target = Path(chosen)
        destination = target
        types = pane.raw_view.model.types
        reader = pane.runtime.reader
        progress = JobProgress()

        async def export() -> str:
            written = await run_blocking(
                write_jsonl, reader, types, destination, progress, long=True
            )
            return f"Exported {counted(written, 'event')} to {destination}"

        self._run_job("Exporting JSONL", progress, "event", export())

    def _job_busy(self) -> bool:
        if self.job_bar.running:
            self.statusBar().showMessage("Another export or save is running (Esc cancels it)", 5000)
        return self.job_bar.running

    def _run_job(
        self,
        title: str,
        progress: JobProgress,
        noun: str | None,
        job: Coroutine[Any, Any, str],
    ) -> None:
        """Run a file job with its progress in the status bar until it ends or is cancelled."""
        self.job_bar.start(title, progress, noun)
        self.cancel_job_action.setEnabled(True)

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
                self.cancel_job_action.setEnabled(False)
            self.statusBar().showMessage(message, 10000)

        spawn(run(), what=title, owner=self)

    def cancel_job(self) -> None:
        self.job_bar.cancel()

    def open_sql_console(self) -> SqlConsole | None:
        if self.current is None:
            return None
        console = SqlConsole(self.current.runtime, self)
        self._consoles.append(console)
        console.finished.connect(lambda _result, c=console: self._consoles.remove(c))
        console.show()
        return console

    def open_mirror_file(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(
            self, "Open mirror file", "", "SQLite databases (*.sqlite3 *.sqlite *.db)"
        )
        if chosen:
            self.open_checked(StreamTarget(None, "default", "/", mirror_file=Path(chosen)))

    def new_window(self) -> None:
        self.ctx.new_window(self.current.target if self.current is not None else None)

    # --- servers ---------------------------------------------------------------------------

    def add_server(self) -> None:
        dialog = AddServerDialog(self)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.entry is not None:
            self.ctx.save_server(dialog.entry)
            self._select_server(dialog.entry)
        elif self.current is not None and self.current.target.server is not None:
            self._select_server(self.current.target.server)

    def remove_server(self) -> None:
        server = self.server_combo.currentData()
        if isinstance(server, ServerEntry) and server not in (self.ctx.default_server,):
            self.ctx.remove_server(server.name)

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

    def _quit(self) -> None:
        for window in list(self.ctx.windows):
            window.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        # A file still being written would outlive its window: stop it (it deletes its partial).
        self.job_bar.cancel()
        for console in list(self._consoles):
            console.close()
        for pane in self.panes:
            self._release_pane(pane)
        self.panes.clear()
        self.current = None
        super().closeEvent(event)
        self.closed.emit(self)
