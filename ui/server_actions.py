"""What the Servers and Help menus do: add, edit (URL and token) and remove saved servers,
copy the embedded server's URL (for the CLI verbs), and the About box that shows it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QApplication, QDialog, QMainWindow, QMessageBox

from ui.app_context import AppContext
from ui.server_dialog import ServerDialog
from ui.targets import ServerEntry


class ServerActions:
    def __init__(
        self,
        window: QMainWindow,
        ctx: AppContext[Any],
        chosen: Callable[[], ServerEntry | None],
    ) -> None:
        self._window = window
        self._ctx = ctx
        self._chosen = chosen
        # Dialogs are shown modeless so tests (and the event loop) keep running while open.
        self.dialog: ServerDialog | None = None

    def _open_dialog(self, existing: ServerEntry | None) -> ServerDialog:
        dialog = ServerDialog(
            self._window, existing=existing, token_storage=self._ctx.settings.token_storage()
        )
        self.dialog = dialog
        return dialog

    def add_server(self, on_saved: Callable[[ServerEntry], None] | None = None) -> ServerDialog:
        dialog = self._open_dialog(None)
        dialog.finished.connect(lambda result: self._saved(dialog, result, None, on_saved))
        dialog.open()
        return dialog

    def edit_server(self, server: ServerEntry | None = None) -> ServerDialog | None:
        """Edit a saved server (the one chosen in the picker by default)."""
        server = server or self._chosen()
        if server is None:
            return None
        if server.embedded or server not in self._ctx.settings.server_profiles():
            self._message(f"{server.name} is not a saved server: only saved servers can be edited")
            return None
        dialog = self._open_dialog(server)
        dialog.finished.connect(lambda result: self._saved(dialog, result, server, None))
        dialog.open()
        return dialog

    def _saved(
        self,
        dialog: ServerDialog,
        result: int,
        replacing: ServerEntry | None,
        on_saved: Callable[[ServerEntry], None] | None,
    ) -> None:
        if self.dialog is dialog:
            self.dialog = None
        if result != QDialog.DialogCode.Accepted or dialog.entry is None:
            return
        self._ctx.save_server(
            dialog.entry, replacing=replacing.name if replacing is not None else None
        )
        self._message(f"Saved server {dialog.entry.name}", 5000)
        if on_saved is not None:
            on_saved(dialog.entry)

    def remove_server(self, server: ServerEntry | None = None) -> bool:
        """Remove a saved server after the user says yes; True when it was removed."""
        server = server or self._chosen()
        if server is None or server not in self._ctx.settings.server_profiles():
            self._message("Only saved servers can be removed", 5000)
            return False
        answer = QMessageBox.question(
            self._window,
            "Remove server",
            f"Remove the server {server.name} ({server.url}) and its saved token? Its local "
            "mirrors stay on disk (Tools › Local mirrors… lists them).",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self._ctx.remove_server(server.name)
        self._message(f"Removed server {server.name}", 5000)
        return True

    def copy_embedded_url(self) -> None:
        url = self._ctx.embedded_url
        if url is None:
            self._message("This window uses a server given on the command line", 5000)
            return
        QApplication.clipboard().setText(url)
        self._message(f"Copied {url}", 5000)

    def show_about(self) -> QMessageBox:
        url = self._ctx.embedded_url
        box = QMessageBox(self._window)
        box.setWindowTitle("About Streamdesk")
        where = (
            f"The embedded stream server listens at <b>{url}</b>.<br>"
            f"Point the command line at it: <code>streamdesk tail {url} /path</code>"
            if url is not None
            else "No embedded server runs in this window's process."
        )
        box.setText(f"<p>Streamdesk: event streams with an offline mirror.</p><p>{where}</p>")
        if url is not None:
            copy = box.addButton("Copy server URL", QMessageBox.ButtonRole.ActionRole)
            copy.clicked.connect(self.copy_embedded_url)
        box.addButton(QMessageBox.StandardButton.Close)
        box.open()
        return box

    def _message(self, text: str, timeout_ms: int = 8000) -> None:
        self._window.statusBar().showMessage(text, timeout_ms)
