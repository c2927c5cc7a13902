"""The Add server dialog: a name, the server's URL (checked before the dialog closes) and an
optional bearer token."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QWidget

from mirror.paths import validate_server_url
from ui.targets import ServerEntry


class AddServerDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add server")
        self.name_edit, self.url_edit, self.token_edit = QLineEdit(), QLineEdit(), QLineEdit()
        self.url_edit.setPlaceholderText("https://streams.example.com")
        self.url_edit.setAccessibleName("Server URL")
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.error_label = QLabel()
        self.error_label.setAccessibleName("Server URL error")
        self.error_label.setStyleSheet("color: #b3261e")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        form = QFormLayout(self)
        form.addRow("Name", self.name_edit)
        form.addRow("URL", self.url_edit)
        form.addRow("Token (optional)", self.token_edit)
        form.addRow(self.error_label)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.url_edit.textEdited.connect(lambda _text: self.error_label.hide())
        self.entry: ServerEntry | None = None

    def accept(self) -> None:
        """Close only with a URL a stream server can have; otherwise say what is wrong."""
        try:
            url = validate_server_url(self.url_edit.text())
        except ValueError as error:
            self.error_label.setText(f"{str(error)[:1].upper()}{str(error)[1:]}.")
            self.error_label.show()
            self.url_edit.setFocus()
            return
        self.entry = ServerEntry(
            name=self.name_edit.text().strip() or url.split("://", 1)[-1],
            url=url,
            token=self.token_edit.text() or None,
        )
        super().accept()
