"""The Add / Edit server dialog: a name, the server's URL (checked before the dialog closes), an
optional bearer token, where the token will be kept, and a Test connection button."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from mirror.paths import validate_server_url
from mirror.server_check import check_server
from ui.offload import spawn
from ui.palette import error_text_style, tone_colors, widget_is_dark
from ui.pane_state import plain_error, server_host
from ui.targets import ServerEntry

# Wide enough for a URL and one line of error text; the dialog grows for longer messages.
_MIN_WIDTH = 460


def _capitalized(text: str) -> str:
    return f"{text[:1].upper()}{text[1:]}."


class ServerDialog(QDialog):
    """Add a server (``existing`` None) or edit one; ``entry`` holds the result once accepted."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        existing: ServerEntry | None = None,
        token_storage: str = "",
    ) -> None:
        super().__init__(parent)
        self.existing = existing
        self.setWindowTitle("Edit server" if existing is not None else "Add server")
        self.setMinimumWidth(_MIN_WIDTH)
        self.name_edit, self.url_edit, self.token_edit = QLineEdit(), QLineEdit(), QLineEdit()
        self.url_edit.setPlaceholderText("https://streams.example.com")
        self.url_edit.setAccessibleName("Server URL")
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setAccessibleName("Token")
        if existing is not None:
            self.name_edit.setText(existing.name)
            self.url_edit.setText(existing.url)
            self.token_edit.setText(existing.token or "")
        self.storage_label = QLabel(token_storage)
        self.storage_label.setWordWrap(True)
        self.storage_label.setStyleSheet("color: palette(placeholder-text)")
        self.error_label = QLabel()
        self.error_label.setAccessibleName("Server URL error")
        self.error_label.setStyleSheet(error_text_style(widget_is_dark(self)))
        self.error_label.setWordWrap(True)
        # A wrapped label asks for the height of all its lines: the form never clips it.
        self.error_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.error_label.hide()
        self.test_label = QLabel()
        self.test_label.setAccessibleName("Connection test result")
        self.test_label.setWordWrap(True)
        self.test_label.hide()
        self.test_button = QPushButton("Test connection")
        self.test_button.setAutoDefault(False)
        self.test_button.clicked.connect(self.test_connection)
        form = QFormLayout(self)
        form.addRow("Name", self.name_edit)
        form.addRow("URL", self.url_edit)
        form.addRow("Token (optional)", self.token_edit)
        form.addRow(self.storage_label)
        form.addRow(self.error_label)
        form.addRow(self.test_button, self.test_label)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.url_edit.textEdited.connect(lambda _text: self._show(self.error_label, None))
        self.entry: ServerEntry | None = None
        self.testing = False

    def _show(self, label: QLabel, text: str | None) -> None:
        label.setText(text or "")
        label.setVisible(bool(text))
        # Grow (never shrink below what the user chose) so every line of the message shows.
        self.adjustSize()

    def _checked_url(self) -> str | None:
        try:
            url = validate_server_url(self.url_edit.text())
        except ValueError as error:
            self._show(self.error_label, _capitalized(str(error)))
            self.url_edit.setFocus()
            return None
        self._show(self.error_label, None)
        return url

    def test_connection(self) -> None:
        """Ask the server for one stream's state with this URL and token; say what happened."""
        url = self._checked_url()
        if url is None or self.testing:
            return
        self.testing = True
        self.test_button.setEnabled(False)
        self.test_label.setStyleSheet("")
        self._show(self.test_label, f"Testing {server_host(url)}…")
        spawn(self._test(url, self.token_edit.text() or None), what="testing a server", owner=self)

    async def _test(self, url: str, token: str | None) -> None:
        problem = await check_server(url, token)
        dark = widget_is_dark(self)
        if problem is None:
            text = f"Connected: {server_host(url)} answers as a stream server."
            self.test_label.setStyleSheet(f"color: {tone_colors('ok', dark)[1]}")
        else:
            text = plain_error(problem, host=server_host(url))
            self.test_label.setStyleSheet(error_text_style(dark))
        self._show(self.test_label, text)
        self.testing = False
        self.test_button.setEnabled(True)

    def accept(self) -> None:
        """Close only with a URL a stream server can have; otherwise say what is wrong."""
        url = self._checked_url()
        if url is None:
            return
        self.entry = ServerEntry(
            name=self.name_edit.text().strip() or url.split("://", 1)[-1],
            url=url,
            token=self.token_edit.text() or None,
        )
        super().accept()
