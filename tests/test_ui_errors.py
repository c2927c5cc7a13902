"""One coherent, plain-language state per pane: an unreachable server, a refused path, a
follower, and the words behind them (ui.pane_state)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from ui_support import UiHarness, fresh_path, ui_harness, wait_for

from mirror.connection_state import ConnectionState, Role
from mirror.election import WriterElection
from mirror.paths import mirror_file, writer_lock_file
from mirror.runtime import RuntimeStatus
from ui.pane_state import EDIT_SERVER, RETRY, WORK_OFFLINE, pane_state, plain_error
from ui.server_dialog import ServerDialog
from ui.targets import ServerEntry, StreamTarget

RAW_CONNECT_ERROR = (
    "connect failed: runtimeState on default:/a b/ü at http://127.0.0.1:9: HTTP batch request "
    "to http://127.0.0.1:9/api/streams?path=%2Fa%20b%2F%C3%BC failed: "
    "ConnectError('All connection attempts failed')"
)


@pytest.fixture
def ui(qtbot: QtBot, tmp_path: Path) -> Iterator[UiHarness]:
    with ui_harness(qtbot, tmp_path) as harness:
        yield harness


def closed_port_url() -> str:
    """A loopback URL nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_raw_runtime_errors_become_one_sentence() -> None:
    host = "127.0.0.1:9"
    expected = "Can't reach 127.0.0.1:9: connection refused."
    assert plain_error(RAW_CONNECT_ERROR, host=host) == expected
    refused = "runtimeState on default:/x at http://h: the server requires a valid bearer token "
    assert plain_error(refused + "(HTTP 401; the token was rejected)", host="h") == (
        "h refused the token."
    )
    odd = "subscribe failed: getEvents on default:/a b at http://h: boom at /a%20b"
    assert plain_error(odd, host="h") == "Problem with h: boom at /a b."
    state = pane_state(
        RuntimeStatus(ConnectionState.RECONNECTING, Role.LEADER, last_error=RAW_CONNECT_ERROR),
        server_url="http://127.0.0.1:9",
        retry_in=3.2,
    )
    assert state.error == "Can't reach 127.0.0.1:9: connection refused. Retrying in 4 s."
    assert state.actions == (RETRY, EDIT_SERVER, WORK_OFFLINE)
    assert "connecting" not in state.empty_text


def test_an_unreachable_server_says_so_in_words_and_offers_what_to_do(
    qtbot: QtBot, ui: UiHarness
) -> None:
    url = closed_port_url()
    host = url.removeprefix("http://")
    window = ui.ctx.new_window(StreamTarget(ServerEntry("Gone", url), "default", "/a b/ü"))
    qtbot.addWidget(window)
    pane = window.current
    assert pane is not None
    banner = pane.error_banner
    wait_for(qtbot, lambda: banner.isVisible() and "Retrying in" in banner.text())
    text = banner.text()
    assert text.startswith(f"Can't reach {host}: connection refused. Retrying in ")
    assert "ConnectError" not in text and "%2F" not in text
    assert pane.connection_label.text() == "no connection"
    # One state: the empty list does not claim to be connecting, the status bar does not
    # repeat the raw error.
    assert "connecting" not in pane.raw_view.empty_label.text().lower()
    assert "ConnectError" not in window.status_label.text()
    shown = [a for a, b in banner.buttons.items() if b.isVisibleTo(pane)]
    assert shown == [RETRY, EDIT_SERVER, WORK_OFFLINE]

    dialled = len(pane.runtime.reconnect_history)
    banner.buttons[RETRY].click()
    wait_for(qtbot, lambda: len(pane.runtime.reconnect_history) > dialled)
    assert any(r.reason == "reconnect requested" for r in pane.runtime.reconnect_history)

    banner.buttons[EDIT_SERVER].click()
    assert window.server_actions.dialog is None  # the dialog only edits saved servers
    assert "only saved servers can be edited" in window.statusBar().currentMessage()
    ui.ctx.save_server(ServerEntry("Gone", url))
    banner.buttons[EDIT_SERVER].click()
    dialog = window.server_actions.dialog
    assert isinstance(dialog, ServerDialog) and dialog.url_edit.text() == url
    dialog.reject()

    banner.buttons[WORK_OFFLINE].click()
    if pane.runtime.mirror_file.exists():
        wait_for(qtbot, lambda: window.current is not None and window.current is not pane)
        offline = window.current
        assert offline is not None and offline.runtime.server_url is None
        assert offline.connection_label.text() == "offline mirror"
        assert not offline.error_banner.isVisible()
    else:
        assert "no local mirror" in window.statusBar().currentMessage()


def test_a_bad_path_is_reported_beside_the_path_field(qtbot: QtBot, ui: UiHarness) -> None:
    window = ui.open(fresh_path())
    window.path_edit.setText("/bad:path")
    window.go()
    assert window.path_error_action.isVisible()
    assert window.path_error.text().strip().startswith('invalid stream path "/bad:path"')
    window.path_edit.textEdited.emit("/good")
    assert not window.path_error_action.isVisible()


def test_the_server_dialog_shows_all_of_a_long_error(qtbot: QtBot) -> None:
    dialog = ServerDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.url_edit.setText("junk " * 40)
    dialog.accept()
    label = dialog.error_label
    assert label.isVisible() and dialog.entry is None
    qtbot.waitUntil(lambda: label.height() >= label.heightForWidth(label.width()))
    assert label.geometry().bottom() <= dialog.rect().bottom()
    assert label.heightForWidth(label.width()) > label.fontMetrics().height()  # wrapped


def test_a_follower_says_whom_it_follows_and_that_the_server_answers(
    qtbot: QtBot, ui: UiHarness
) -> None:
    path = fresh_path()
    lock = writer_lock_file(mirror_file(ui.data_dir, ui.server_url, "default", path))
    holder = WriterElection(lock)
    assert holder.try_acquire()
    try:
        window = ui.open(path)
        pane = window.current
        assert pane is not None
        wait_for(qtbot, lambda: pane.status.role == "follower")
        wait_for(qtbot, lambda: pane.connection_label.text() == "server reachable")
        # The lock is held by this test's process, as another window's process would hold it.
        assert pane.role_label.text() == f"following the writer in process {os.getpid()}"
        assert "subscribed" not in window.status_label.text()
        assert not pane.error_banner.isVisible()
    finally:
        holder.release()
    wait_for(qtbot, lambda: pane.status.role == "leader")
    wait_for(qtbot, lambda: pane.role_label.text() == "writer")
