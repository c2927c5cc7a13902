"""Two app processes on one data directory: one writes the mirror, the other follows it and
takes over when the writer's process exits."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock
from pytestqt.qtbot import QtBot
from ui_support import UiHarness, event, fresh_path, ui_harness, wait_for

from mirror.election import WriterElection
from mirror.paths import mirror_file, writer_lock_file
from mirror.runtime import MirrorReader
from ui.sample_stream import SAMPLE_PATH

# `streamdesk --server URL --data-dir DIR --path PATH`, as the installed command runs it.
DEBUG = "events.iterate.com/debug"
APP = "import sys; from app.cli import main; sys.exit(main())"


@pytest.fixture
def ui(qtbot: QtBot, tmp_path: Path) -> Iterator[UiHarness]:
    with ui_harness(qtbot, tmp_path) as harness:
        yield harness


@dataclass
class AppProcess:
    process: subprocess.Popen[bytes]
    path: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def app_process(ui: UiHarness, tmp_path: Path) -> Iterator[AppProcess]:
    """The real app (offscreen) on the harness's server and data directory."""
    path = fresh_path()
    log = tmp_path / "app.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                APP,
                "--server",
                ui.server_url,
                "--data-dir",
                str(ui.data_dir),
                "--path",
                path,
            ],
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield AppProcess(process, path, log)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(30)


def test_follower_takes_over_when_the_writer_process_exits(
    qtbot: QtBot, ui: UiHarness, app_process: AppProcess
) -> None:
    process, path = app_process.process, app_process.path
    file = mirror_file(ui.data_dir, ui.server_url, "default", path)
    wait_for(qtbot, lambda: file.exists() or process.poll() is not None, 60_000)
    assert process.poll() is None, app_process.output()
    reader = MirrorReader(file)
    try:
        wait_for(qtbot, lambda: reader.event_count() >= 3, 60_000)
    finally:
        reader.close()

    window = ui.open(path)
    pane = window.current
    assert pane is not None
    wait_for(qtbot, lambda: pane.status.role == "follower")
    wait_for(qtbot, lambda: pane.raw_view.model.total >= 3)
    pane.composer.editor.setPlainText(json.dumps(event(f"{DEBUG}/from-follower")))
    pane.composer.submit()
    wait_for(qtbot, lambda: f"{DEBUG}/from-follower" in pane.raw_view.model.type_counts)

    process.terminate()
    assert process.wait(30) == 0, app_process.output()
    wait_for(qtbot, lambda: pane.status.role == "leader")
    wait_for(qtbot, lambda: pane.status.connection == "subscribed")
    pane.composer.editor.setPlainText(json.dumps(event(f"{DEBUG}/from-leader")))
    pane.composer.submit()
    wait_for(qtbot, lambda: f"{DEBUG}/from-leader" in pane.raw_view.model.type_counts)


@contextmanager
def writer_lock_held_elsewhere(ui: UiHarness, path: str) -> Iterator[None]:
    """The stream's mirror writer lock, held as another process would while it is open."""
    lock = writer_lock_file(mirror_file(ui.data_dir, ui.server_url, "default", path))
    holder = WriterElection(lock)
    assert holder.try_acquire()
    try:
        yield
    finally:
        holder.release()


def test_an_empty_follower_says_why(qtbot: QtBot, ui: UiHarness) -> None:
    path = fresh_path()
    with writer_lock_held_elsewhere(ui, path):
        window = ui.open(path)
        pane = window.current
        assert pane is not None
        wait_for(qtbot, lambda: pane.status.role == "follower")
        wait_for(qtbot, lambda: pane.notice_banner.isVisible())
        assert pane.notice_banner.text().startswith("Follower: ")
        assert pane.raw_view.model.total == 0
        assert pane.raw_view.empty_label.isVisible()
    wait_for(qtbot, lambda: pane.status.role == "leader")
    wait_for(qtbot, lambda: pane.raw_view.model.total == 3)
    assert not pane.notice_banner.isVisible()


def test_clearing_a_followed_mirror_is_refused_and_says_where_to_clear_it(
    qtbot: QtBot, ui: UiHarness
) -> None:
    path = fresh_path()
    with writer_lock_held_elsewhere(ui, path):
        window = ui.open(path)
        pane = window.current
        assert pane is not None
        wait_for(qtbot, lambda: pane.status.role == "follower")
        window.menu_actions["clear_local"].trigger()
        wait_for(qtbot, lambda: "failed" in window.statusBar().currentMessage())
        message = window.statusBar().currentMessage()
        assert message.startswith("Clear local mirror failed: another Streamdesk process")
        assert "clear it there" in message
        assert pane.status.role == "follower"
    wait_for(qtbot, lambda: pane.status.role == "leader")


def embedded_server_url(qtbot: QtBot, app: subprocess.Popen[bytes], info: Path, log: Path) -> str:
    """Wait for `app` to publish its embedded server; the URL it wrote."""
    qtbot.waitUntil(lambda: info.exists() or app.poll() is not None, timeout=60_000)
    assert app.poll() is None, log.read_text(errors="replace")
    assert list(info.parent.glob("*.partial")) == []  # written aside, renamed into place
    url: str = json.loads(info.read_text())["url"]
    return url


def start_app(data_dir: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", APP, "--data-dir", str(data_dir), *args],
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_no_arguments_runs_the_embedded_server_and_a_second_app_shares_it(
    qtbot: QtBot, tmp_path: Path
) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "apps.log"
    info = data_dir / "server" / "embedded.json"
    first = start_app(data_dir, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        url = embedded_server_url(qtbot, first, info, log)
        port = json.loads((data_dir / "settings.json").read_text())["embedded_port"]
        assert url == f"http://127.0.0.1:{port}"
        mirror = mirror_file(data_dir, url, "default", SAMPLE_PATH)  # the first start's stream
        qtbot.waitUntil(mirror.exists, timeout=60_000)

        second = start_app(data_dir, log, "--path", "/second")
        qtbot.waitUntil(
            lambda: mirror_file(data_dir, url, "default", "/second").exists(), timeout=60_000
        )
        assert second.poll() is None
        second.terminate()
        assert second.wait(30) == 0
        assert info.exists()  # still the first app's server
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(30)
    assert first.returncode == 0, log.read_text(errors="replace")
    assert not info.exists()

    again = start_app(data_dir, log)
    try:
        qtbot.waitUntil(lambda: info.exists() or again.poll() is not None, timeout=60_000)
        assert json.loads(info.read_text())["url"] == url  # the same port: the same mirrors
    finally:
        again.terminate()
        again.wait(30)


def test_the_second_app_takes_over_the_embedded_server_when_its_owner_exits(
    qtbot: QtBot, tmp_path: Path
) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "apps.log"
    info = data_dir / "server" / "embedded.json"
    first = start_app(data_dir, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        url = embedded_server_url(qtbot, first, info, log)
        second = start_app(data_dir, log, "--path", "/second")
        mirror = mirror_file(data_dir, url, "default", "/second")
        qtbot.waitUntil(mirror.exists, timeout=60_000)
        reader = MirrorReader(mirror)
        qtbot.waitUntil(lambda: reader.event_count() >= 3, timeout=30_000)

        first.terminate()
        assert first.wait(30) == 0, log.read_text(errors="replace")
        # The second app now serves the same URL, so its stream carries on: a reconnect adds
        # subscriber-disconnected + subscriber-connected to its mirror.
        qtbot.waitUntil(
            lambda: info.exists() and json.loads(info.read_text())["pid"] == second.pid,
            timeout=30_000,
        )
        assert json.loads(info.read_text())["url"] == url
        qtbot.waitUntil(lambda: reader.event_count() >= 5, timeout=30_000)
        assert second.poll() is None
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(30)


def test_a_bad_server_url_exits_2_and_says_why(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", APP, "--data-dir", str(tmp_path), "--server", "junk"],
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert '--server: invalid server URL "junk": it must start with http://' in done.stderr


def test_an_unreadable_embedded_server_file_exits_2_and_says_why(tmp_path: Path) -> None:
    """Another process holds the embedded server's lock but its embedded.json is garbage."""
    server_dir = tmp_path / "data" / "server"
    server_dir.mkdir(parents=True)
    (server_dir / "embedded.json").write_text("{half", encoding="utf-8")
    with FileLock(str(server_dir / "embedded.lock")):
        done = subprocess.run(
            [sys.executable, "-c", APP, "--data-dir", str(tmp_path / "data")],
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2, done.stderr
    assert "embedded.json is unreadable" in done.stderr
    assert "Traceback" not in done.stderr
