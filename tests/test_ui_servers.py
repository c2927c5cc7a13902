"""Saved servers: edit URL and token, test a connection from the dialog, confirm before removing,
tokens in the system keyring when there is one, and the embedded server's URL on show."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot
from ui_support import UiHarness, fresh_path, ui_harness, wait_for

from app.settings import Settings
from app.token_store import TokenStore
from server.run import EmbeddedServer
from ui.server_dialog import ServerDialog
from ui.targets import ServerEntry


@pytest.fixture
def ui(qtbot: QtBot, tmp_path: Path) -> Iterator[UiHarness]:
    with ui_harness(qtbot, tmp_path) as harness:
        yield harness


class MemoryKeyring(KeyringBackend):
    """A keyring backend held in memory: CI machines have no system keyring to write to."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.secrets.pop((service, username), None)


def answer_next_question(button: QMessageBox.StandardButton) -> None:
    """Click `button` on the next question box once it is up."""

    def click() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            box.button(button).click()
        else:
            QTimer.singleShot(20, click)

    QTimer.singleShot(20, click)


def test_without_a_keyring_tokens_stay_in_the_private_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    settings = Settings(path, TokenStore(fail.Keyring()))  # type: ignore[no-untyped-call]
    settings.save_server_profile(ServerEntry("lab", "http://lab:1", token="s3cret"))
    assert json.loads(path.read_text())["servers"][0]["token"] == "s3cret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Settings(path).token_storage().startswith("No system keyring: tokens are kept in")


def test_with_a_keyring_tokens_leave_the_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    keyring = MemoryKeyring()
    settings = Settings(path, TokenStore(keyring))
    assert settings.token_storage().startswith("Tokens are kept in the system keyring")
    settings.save_server_profile(ServerEntry("lab", "http://lab:1", token="s3cret"))
    assert "s3cret" not in path.read_text()
    assert keyring.secrets == {("streamdesk", "server:lab"): "s3cret"}
    reloaded = Settings(path, TokenStore(keyring))
    assert reloaded.server_profiles() == [ServerEntry("lab", "http://lab:1", token="s3cret")]
    # Renaming moves the token; removing deletes it.
    reloaded.save_server_profile(ServerEntry("lab2", "http://lab:2", token="n3w"), replacing="lab")
    assert keyring.secrets == {("streamdesk", "server:lab2"): "n3w"}
    reloaded.remove_server_profile("lab2")
    assert keyring.secrets == {} and reloaded.server_profiles() == []


def test_a_server_is_edited_tested_and_removed_after_confirmation(
    qtbot: QtBot, ui: UiHarness, tmp_path: Path
) -> None:
    window = ui.open(fresh_path())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    ui.ctx.save_server(ServerEntry("Lab", dead, token="old"))
    lab = ui.ctx.server_for_url(dead)
    assert lab is not None
    dialog = window.server_actions.edit_server(lab)
    assert isinstance(dialog, ServerDialog)
    assert dialog.windowTitle() == "Edit server" and dialog.token_edit.text() == "old"
    assert dialog.storage_label.text().startswith("No system keyring")

    dialog.test_button.click()
    wait_for(qtbot, lambda: not dialog.testing)
    assert dialog.test_label.text() == f"Can't reach {dead[7:]}: connection refused."

    with EmbeddedServer(tmp_path / "other") as other:
        other_url = other.url
        dialog.url_edit.setText(other_url)
        dialog.token_edit.setText("new")
        dialog.test_button.click()
        wait_for(qtbot, lambda: not dialog.testing)
    assert dialog.test_label.text().startswith("Connected: ")
    dialog.accept()
    assert ui.ctx.settings.server_profiles() == [ServerEntry("Lab", other_url, token="new")]
    combo = [window.server_combo.itemText(i) for i in range(window.server_combo.count())]
    assert f"Lab ({other_url})" in combo

    saved = ui.ctx.settings.server_profiles()[0]
    answer_next_question(QMessageBox.StandardButton.No)
    assert not window.server_actions.remove_server(saved)
    assert ui.ctx.settings.server_profiles() == [saved]
    answer_next_question(QMessageBox.StandardButton.Yes)
    assert window.server_actions.remove_server(saved)
    assert ui.ctx.settings.server_profiles() == []


def test_the_embedded_server_url_is_shown_and_copied(qtbot: QtBot, ui: UiHarness) -> None:
    window = ui.open(fresh_path())
    assert window.server_combo.itemText(0) == f"Embedded ({ui.server_url})"
    box = window.server_actions.show_about()
    qtbot.addWidget(box)
    assert ui.server_url in box.text()
    QApplication.clipboard().clear()
    copy = next(b for b in box.buttons() if b.text() == "Copy server URL")
    copy.click()
    assert QApplication.clipboard().text() == ui.server_url
    assert window.statusBar().currentMessage() == f"Copied {ui.server_url}"
