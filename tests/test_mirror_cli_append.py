"""`streamdesk append` with JSON Lines from a file (@FILE) and from stdin (-), as a user runs it:
`python -m app.cli` subprocesses with real pipes against a real server in a thread."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from mirror_support import REPO_ROOT

from mirror.append_input import BadInput, EventDecoder, decode_all
from wire.stream_client import StreamClient

PATH = "/cli/append"
ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
COMMAND = [sys.executable, "-m", "app.cli", "append"]
pytestmark = pytest.mark.timeout(90)


def append(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*COMMAND, *args], input=stdin, capture_output=True, timeout=60, env=ENV, cwd=REPO_ROOT
    )


def server_events(url: str, path: str = PATH) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        async with StreamClient(url, path) as client:
            events: list[dict[str, Any]] = []
            while page := await client.get_events(
                after_offset=events[-1]["offset"] if events else 0, limit=1000
            ):
                events.extend(page)
            return events

    return asyncio.run(run())


def appended(url: str, path: str = PATH) -> list[dict[str, Any]]:
    """The events the verb appended (the stream's own created/woken facts left out)."""
    return [event for event in server_events(url, path) if event["type"].startswith("test/")]


def lines(count: int, start: int = 0) -> bytes:
    return b"".join(
        orjson.dumps({"type": "test/line", "payload": {"n": n}}) + b"\n"
        for n in range(start, start + count)
    )


def test_a_jsonl_file_is_appended_in_order_in_batches(
    embedded_server_thread: str, tmp_path: Path
) -> None:
    file = tmp_path / "events.jsonl"
    file.write_bytes(lines(2500))
    done = append(embedded_server_thread, PATH, f"@{file}")
    assert done.returncode == 0, done.stderr
    assert done.stdout == b""
    events = appended(embedded_server_thread)
    assert [event["payload"]["n"] for event in events] == list(range(2500))
    first, last = events[0]["offset"], events[-1]["offset"]
    assert done.stderr.decode() == (
        f"2,500 events were appended to default:{PATH} (offsets {first}-{last})\n"
    )


def test_a_bad_line_in_a_file_is_named_and_nothing_is_sent(
    embedded_server_thread: str, tmp_path: Path
) -> None:
    file = tmp_path / "events.jsonl"
    file.write_bytes(lines(1500) + b'{"type": "test/x", \n' + lines(10))
    done = append(embedded_server_thread, PATH, f"@{file}")
    assert done.returncode == 2
    message = done.stderr.decode()
    assert message.startswith(f"streamdesk: {file} line 1501: invalid JSON")
    assert message.endswith("nothing was sent\n") and message.count("\n") == 1
    assert appended(embedded_server_thread) == []


def test_stdin_stops_at_the_first_bad_line_and_says_how_many_went_in(
    embedded_server_thread: str,
) -> None:
    data = lines(1200) + b"[1, 2]\n" + lines(5, start=1200)
    done = append(embedded_server_thread, PATH, "-", stdin=data)
    assert done.returncode == 2
    assert done.stderr.decode() == (
        "streamdesk: stdin line 1201: an event must be a JSON object, not an array; stopped "
        "there: 1,200 events were appended from the lines before it, nothing after it was sent\n"
    )
    assert [event["payload"]["n"] for event in appended(embedded_server_thread)] == list(
        range(1200)
    )


def test_stdin_takes_one_pretty_printed_event(embedded_server_thread: str) -> None:
    text = json.dumps({"type": "test/pretty", "payload": {"a": [1, 2]}}, indent=2)
    done = append(embedded_server_thread, PATH, "-", stdin=text.encode())
    assert done.returncode == 0, done.stderr
    [event] = appended(embedded_server_thread)
    assert event["payload"] == {"a": [1, 2]}
    assert done.stderr.decode() == (
        f"1 event was appended to default:{PATH} (offset {event['offset']})\n"
    )


def test_stdin_is_streamed_as_lines_arrive(embedded_server_thread: str) -> None:
    process = subprocess.Popen(
        [*COMMAND, embedded_server_thread, PATH, "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
        cwd=REPO_ROOT,
    )
    assert process.stdin is not None
    try:
        for n in range(3):
            process.stdin.write(lines(1, start=n))
            process.stdin.flush()
            # Appended while stdin is still open: nothing waits for a batch to fill.
            deadline = time.monotonic() + 20
            while len(appended(embedded_server_thread)) < n + 1:
                assert time.monotonic() < deadline, f"line {n + 1} was not appended"
                time.sleep(0.05)
        process.stdin.close()
        assert process.wait(20) == 0
    finally:
        process.kill()
    assert [event["payload"]["n"] for event in appended(embedded_server_thread)] == [0, 1, 2]


def test_a_refused_batch_stops_the_verb_with_what_went_in(
    embedded_server_thread: str, tmp_path: Path
) -> None:
    file = tmp_path / "events.jsonl"
    refused = orjson.dumps({"type": "test/x", "bogus": 1}) + b"\n"
    file.write_bytes(lines(1000) + lines(499, start=1000) + refused + lines(700, start=1500))
    done = append(embedded_server_thread, PATH, f"@{file}")
    assert done.returncode == 1
    message = done.stderr.decode()
    assert message.startswith("streamdesk: append failed: ")
    assert "1,000 events were appended before it" in message and message.count("\n") == 1
    # appendBatch is all-or-nothing: the first batch only.
    assert [event["payload"]["n"] for event in appended(embedded_server_thread)] == list(
        range(1000)
    )


def test_an_unreadable_file_is_bad_input(embedded_server_thread: str, tmp_path: Path) -> None:
    done = append(embedded_server_thread, PATH, f"@{tmp_path / 'missing.jsonl'}")
    assert done.returncode == 2
    assert b"cannot read" in done.stderr and b"nothing was sent" in done.stderr
    assert appended(embedded_server_thread) == []


def test_the_decoder_joins_lines_split_across_chunks() -> None:
    decoder = EventDecoder()
    data = lines(3) + b"\n  \n" + lines(1, start=3).rstrip(b"\n")
    got = [event for i in range(len(data)) for event in decoder.feed(data[i : i + 1]).events]
    got += decoder.finish().events
    assert [event["payload"]["n"] for event in got] == [0, 1, 2, 3]
    assert decoder.lines == 6


def test_the_decoder_returns_nothing_after_a_bad_line() -> None:
    decoder = EventDecoder()
    decoded = decoder.feed(lines(2) + b"42\n" + lines(2, start=2))
    assert [event["payload"]["n"] for event in decoded.events] == [0, 1]
    assert decoded.error is not None and str(decoded.error) == (
        "line 3: an event must be a JSON object, not a number"
    )
    assert decoder.feed(lines(1)).events == [] and decoder.finish().events == []
    with pytest.raises(BadInput, match="line 1: invalid JSON"):
        decode_all(b'{"type": "test/x",\n"oops"\n')
