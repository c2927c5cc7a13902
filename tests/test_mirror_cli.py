"""The headless verbs as a user runs them: `python -m app.cli ...` subprocesses against a real
server running in a background thread."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import apsw
import pytest
from mirror_support import REPO_ROOT, assert_mirror_matches_server, seed

from mirror.paths import mirror_file
from server.run import EmbeddedServer
from wire.stream_client import StreamClient

PATH = "/cli/test"
ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def cli(*args: str, seconds: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        timeout=seconds,
        env=ENV,
        cwd=REPO_ROOT,
    )


def popen(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        cwd=REPO_ROOT,
    )


def call(url: str, method: str, *args: Any, path: str = PATH) -> Any:
    async def run() -> Any:
        async with StreamClient(url, path) as client:
            return await getattr(client, method)(*args)

    return asyncio.run(run())


def max_offset(url: str, path: str = PATH) -> int:
    return int(call(url, "runtime_state", path=path)["coreProcessorState"]["maxOffset"])


def wait_until(condition: Any, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.05)


def test_append_prints_the_committed_event(embedded_server_thread: str) -> None:
    result = cli("append", embedded_server_thread, PATH, '{"type": "cli/note", "payload": 1}')
    assert result.returncode == 0, result.stderr
    committed = json.loads(result.stdout)
    assert committed["type"] == "cli/note" and committed["offset"] == 3


@pytest.mark.parametrize("text", ['{"type": ', "[1, 2]", "not json"])
def test_append_refuses_bad_json_and_sends_nothing(embedded_server_thread: str, text: str) -> None:
    before = max_offset(embedded_server_thread)
    result = cli("append", embedded_server_thread, PATH, text)
    assert result.returncode == 2
    assert "nothing was sent" in result.stderr
    assert result.stdout == ""
    assert max_offset(embedded_server_thread) == before


def test_append_reports_server_errors(embedded_server_thread: str) -> None:
    result = cli("append", embedded_server_thread, PATH, '{"type": "x", "bogus": 1}')
    assert result.returncode == 1
    assert "append failed" in result.stderr


def test_mirror_until_synced_then_query_read_only(
    embedded_server_thread: str, tmp_path: Path
) -> None:
    asyncio.run(_seed(embedded_server_thread, 2500))
    data = tmp_path / "data"
    result = cli("mirror", embedded_server_thread, PATH, "--data-dir", str(data), "--until-synced")
    assert result.returncode == 0, result.stderr
    # Not a terminal: the catch-up shows as plain lines (percent, done / total, rate, ETA).
    assert re.search(r"^catching up +\d+% [\d,]+ / 2,50\d events [\d,]+ ev/s ", result.stderr, re.M)
    file = mirror_file(data, embedded_server_thread, "default", PATH)
    # Everything up to its own subscriber-connected; the disconnect came after it stopped.
    assert _count(file) >= 2503
    asyncio.run(_compare(embedded_server_thread, file, through=_count(file)))

    table = cli("query", str(file), "SELECT type, count(*) AS n FROM events GROUP BY type")
    assert table.returncode == 0, table.stderr
    header, rule, *rows = table.stdout.splitlines()
    assert header.split() == ["type", "|", "n"] and set(rule) <= {"-", "+"}
    assert any(row.startswith("test/type-0") for row in rows)
    lines = cli("query", str(file), "SELECT offset, type FROM events", "--json", "--max-rows", "3")
    assert [json.loads(line)["offset"] for line in lines.stdout.splitlines()] == [1, 2, 3]
    assert "first 3 rows" in lines.stderr

    before = file.stat().st_mtime_ns, _count(file)
    refused = cli("query", str(file), "DELETE FROM events")
    assert refused.returncode == 1
    assert refused.stderr == "streamdesk: read-only: DELETE is not allowed\n"
    assert (file.stat().st_mtime_ns, _count(file)) == before


def test_mirror_keeps_tailing_until_ctrl_c(embedded_server_thread: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    process = popen("mirror", embedded_server_thread, PATH, "--data-dir", str(data))
    try:
        file = mirror_file(data, embedded_server_thread, "default", PATH)
        wait_until(lambda: file.exists() and _count(file) >= 3)
        committed = call(embedded_server_thread, "append", {"type": "cli/live"})
        wait_until(lambda: _count(file) >= committed["offset"])
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "subscribed (leader)" in stderr and "stopped" in stderr
    asyncio.run(_compare(embedded_server_thread, file, through=committed["offset"]))


def test_tail_prints_events_as_json_lines(embedded_server_thread: str) -> None:
    call(embedded_server_thread, "append", {"type": "cli/first"})
    process = popen("tail", embedded_server_thread, PATH, "--after", "1")
    try:
        assert process.stdout is not None
        seen = [json.loads(process.stdout.readline()) for _ in range(2)]
        assert [event["offset"] for event in seen] == [2, 3]
        assert seen[1]["type"] == "cli/first"
        committed = call(embedded_server_thread, "append", {"type": "cli/second"})
        while True:
            event = json.loads(process.stdout.readline())
            if event["offset"] == committed["offset"]:
                break
        assert event == committed
        process.send_signal(signal.SIGINT)
        process.wait(20)
    finally:
        process.kill()
    assert process.returncode == 0


@pytest.mark.parametrize("url", ["localhost:8787", "ftp://127.0.0.1:8787", "http://h/?path=/a"])
def test_invalid_server_urls_are_bad_input(tmp_path: Path, url: str) -> None:
    data = tmp_path / "data"
    for verb, *rest in (
        ("mirror", "--data-dir", str(data)),
        ("tail",),
        ("append", '{"type": "cli/never"}'),
    ):
        result = cli(verb, url, PATH, *rest, seconds=30)
        assert result.returncode == 2, (verb, result.stderr)
        assert "invalid server URL" in result.stderr and result.stdout == ""
    assert not data.exists(), "nothing was created for an invalid URL"


def test_a_refused_token_fails_at_once_without_printing_the_token(tmp_path: Path) -> None:
    wrong = "wrong-token-5678"
    with EmbeddedServer(tmp_path / "server", token="right-token") as server:
        for verb, *rest in (
            ("mirror", "--data-dir", str(tmp_path / "data")),
            ("tail",),
            ("append", '{"type": "cli/never"}'),
        ):
            result = cli(verb, server.url, PATH, *rest, "--token", wrong, seconds=30)
            assert result.returncode == 1, (verb, result.stderr)
            assert "token was rejected" in result.stderr and "--token" in result.stderr, verb
            assert wrong not in result.stderr + result.stdout


def test_self_test_exits_zero() -> None:
    result = cli("--self-test", seconds=120)
    assert result.returncode == 0, result.stderr
    assert "self-test passed" in result.stderr


def _count(file: Path) -> int:
    conn = apsw.Connection(str(file), flags=apsw.SQLITE_OPEN_READONLY)
    conn.set_busy_timeout(2000)
    try:
        count = conn.execute("SELECT count(*) FROM events").fetchall()[0][0]
        assert isinstance(count, int)
        return count
    except (apsw.SQLError, apsw.BusyError):
        return 0  # not created yet, or the writer is setting the file up right now
    finally:
        conn.close()


async def _seed(url: str, count: int) -> None:
    async with StreamClient(url, PATH) as client:
        await seed(client, count)


async def _compare(url: str, file: Path, through: int | None = None) -> None:
    async with StreamClient(url, PATH) as client:
        await assert_mirror_matches_server(file, client, through=through)
