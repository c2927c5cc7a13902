"""The `streamdesk` command itself: --version, a port out of range, and output into a reader
that stops early (``| head``) ending quietly, as real subprocesses with real pipes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mirror_support import REPO_ROOT

from mirror.db import MirrorDb
from mirror.processors import MirrorWriter

COMMAND = [sys.executable, "-m", "app.cli"]


def test_version_prints_the_installed_version() -> None:
    done = subprocess.run([*COMMAND, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip() == "streamdesk 0.1.0"


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_serve_refuses_a_port_out_of_range(port: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [*COMMAND, "serve", "--port", port, "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--port" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "server").exists(), "nothing was started"


def many_events(file: Path, count: int) -> None:
    db = MirrorDb.open(file)
    MirrorWriter(db).apply_sync(
        [
            {"offset": n, "type": "t", "createdAt": "2026-01-01T00:00:00.000Z", "payload": {"n": n}}
            for n in range(1, count + 1)
        ]
    )
    db.close()


@pytest.mark.parametrize(
    "verb",
    [
        ["query", "{file}", "SELECT offset, json(raw_jsonb) FROM events", "--max-rows", "50000"],
        ["search", "{file}", "--limit", "50000", "--json"],
    ],
)
def test_output_into_a_closed_pipe_ends_quietly(verb: list[str], tmp_path: Path) -> None:
    file = tmp_path / "m.sqlite3"
    many_events(file, 50_000)
    args = [part.format(file=file) for part in verb]
    process = subprocess.Popen(
        [*COMMAND, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # the reader stops, like `| head -1`
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0, stderr
    assert first.strip()
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_the_app_with_no_display_says_so_in_one_line(tmp_path: Path) -> None:
    hidden = {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"}
    env = {name: value for name, value in os.environ.items() if name not in hidden}
    done = subprocess.run(
        [*COMMAND, "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("streamdesk: no display to open the window on")
    assert done.stderr.count("\n") == 1 and "QT_QPA_PLATFORM=offscreen" in done.stderr
    assert not (tmp_path / "data").exists(), "nothing was started"
