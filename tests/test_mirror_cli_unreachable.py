"""`mirror` and `tail` against no server, and against HTTP servers that are not stream servers
(an HTML 404, an HTML page with 200): one plain line per retry with its delay, no HTML, and
`--timeout` ends them with exit 1; `mirror --status-json` prints one JSON object per change.
Real subprocesses, real sockets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from mirror_support import REPO_ROOT, free_port

from mirror.cli_failure import plain_failure

PATH = "/cli/unreachable"
ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
PAGE = b"<!DOCTYPE html>\n<html><head><title>Not here</title></head>\n<body>nothing</body></html>\n"
STATUS_KEYS = {
    "connection",
    "role",
    "events",
    "max_offset",
    "incarnation",
    "notice",
    "last_error",
    "catchup",
}
pytestmark = pytest.mark.timeout(90)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
        cwd=REPO_ROOT,
    )


def web_server(status: int) -> Iterator[str]:
    class Page(BaseHTTPRequestHandler):
        def answer(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        do_GET = do_POST = answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(params=["refused", "html-404", "html-200"])
def not_a_stream_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(URL, what the retry lines must say)."""
    if request.param == "refused":
        port = free_port()
        yield f"http://127.0.0.1:{port}", f"can't reach 127.0.0.1:{port}: connection refused"
        return
    status = 404 if request.param == "html-404" else 200
    for url in web_server(status):
        answer = (
            "it answered HTTP 404 with a web page"
            if status == 404
            else "its answer is not the stream API"
        )
        yield url, f"{url} does not look like a stream server: {answer}"


def assert_plain_retries(stderr: str, reason: str, seconds: str) -> None:
    assert "<" not in stderr and "html" not in stderr.lower(), stderr
    assert "Traceback" not in stderr and "ConnectError" not in stderr, stderr
    retries = [line for line in stderr.splitlines() if line.endswith("; retrying in 1.0 s")]
    assert len(retries) >= 2, stderr
    assert all(reason in line for line in retries), stderr
    assert stderr.splitlines()[-1].startswith(f"streamdesk: gave up after {seconds} s without")


def test_tail_retries_in_words_and_gives_up(not_a_stream_server: tuple[str, str]) -> None:
    url, reason = not_a_stream_server
    done = cli("tail", url, PATH, "--timeout", "2.5")
    assert done.returncode == 1
    assert done.stdout == ""
    assert_plain_retries(done.stderr, reason, "2.5")
    for line in done.stderr.splitlines():
        assert line == f"streamdesk: {reason}; retrying in 1.0 s" or "gave up" in line


def test_mirror_until_synced_gives_up_with_status_json(
    not_a_stream_server: tuple[str, str], tmp_path: Path
) -> None:
    url, reason = not_a_stream_server
    done = cli(
        "mirror",
        url,
        PATH,
        "--data-dir",
        str(tmp_path / "data"),
        "--until-synced",
        "--timeout",
        "2.5",
        "--status-json",
    )
    assert done.returncode == 1
    assert_plain_retries(done.stderr, reason, "2.5")
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert all(set(record) == STATUS_KEYS for record in records)
    retrying = [record for record in records if record["connection"] == "reconnecting"]
    assert retrying and all(record["last_error"] == reason for record in retrying)
    assert records[-1]["connection"] == "closed"


def test_status_json_follows_a_mirror_to_the_head(
    embedded_server_thread: str, tmp_path: Path
) -> None:
    done = cli(
        "mirror",
        embedded_server_thread,
        PATH,
        "--data-dir",
        str(tmp_path / "data"),
        "--until-synced",
        "--status-json",
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert all(set(record) == STATUS_KEYS for record in records)
    assert len({json.dumps(record) for record in records}) == len(records), "one per change"
    connections = [record["connection"] for record in records]
    assert connections[0] == "connecting" and "subscribed" in connections
    subscribed = [record for record in records if record["connection"] == "subscribed"][-1]
    assert subscribed["role"] == "leader" and subscribed["incarnation"]
    assert subscribed["events"] >= 2 and subscribed["max_offset"] == subscribed["events"]
    assert "subscribed (leader)" in done.stderr, "the human lines stay on stderr"


def test_the_tail_timeout_clock_stops_while_subscribed(embedded_server_thread: str) -> None:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "app.cli", "tail", embedded_server_thread, PATH),
            *("--after", "0", "--timeout", "1"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        cwd=REPO_ROOT,
    )
    try:
        assert process.stdout is not None
        assert json.loads(process.stdout.readline())["offset"] == 1  # subscribed
        time.sleep(2.5)  # more than --timeout, subscribed all along
        assert process.poll() is None, "gave up although subscribed"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "gave up" not in stderr


@pytest.mark.parametrize(
    ("message", "plain"),
    [
        ("runtimeState at http://h:1: timed out", "h:1 did not answer in time"),
        ("getEvents: HTTP 502: Bad Gateway\nmore", "http://h:1 answered HTTP 502: Bad Gateway"),
        ("ingest failed: disk full\nTraceback ...", "ingest failed: disk full"),
    ],
)
def test_plain_failure_keeps_one_line(message: str, plain: str) -> None:
    assert plain_failure(message, "http://h:1") == plain
