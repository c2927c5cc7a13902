"""`streamdesk append` from JSON Lines, next to the server's own append rate, in one run.

    .venv/bin/python bench/append_jsonl.py [--events 100000]

One stream server process (`python -m server`); each measurement appends the same events to a
stream of its own:

- the server's own rate: appendBatch calls of 1,000 (the verb's batch size) from this process
  over HTTP batch, with the events already in memory;
- `streamdesk append URL PATH @FILE` as a subprocess (wall time, start-up included);
- `streamdesk append URL PATH -` fed the same file through a pipe.

Target (issue 13): >= 20,000 events/s from a JSONL file over loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from bench_support import REPO_ROOT, start_server

from wire.stream_client import StreamClient

BATCH = 1000
TARGET = 20_000


def make_events(count: int) -> list[dict[str, Any]]:
    return [
        {"type": "bench.event", "payload": {"i": i, "text": "x" * 100, "ok": True}}
        for i in range(count)
    ]


async def server_rate(url: str, events: list[dict[str, Any]]) -> float:
    async with StreamClient(url, "/bench/direct") as client:
        await client.append_batch(events[:1])  # wake the stream first, as the verb's would be
        started = time.perf_counter()
        for start in range(1, len(events), BATCH):
            await client.append_batch(events[start : start + BATCH])
        return (len(events) - 1) / (time.perf_counter() - started)


def verb_rate(url: str, path: str, file: Path, count: int, *, piped: bool) -> float:
    source = "-" if piped else f"@{file}"
    command = [sys.executable, "-m", "app.cli", "append", url, path, source]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    started = time.perf_counter()
    with file.open("rb") as stdin:
        done = subprocess.run(
            command,
            stdin=stdin if piped else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO_ROOT,
            timeout=600,
        )
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or f"{count:,} events were appended" not in done.stderr:
        raise SystemExit(f"append failed ({done.returncode}): {done.stderr}")
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000, help="events to append")
    args = parser.parse_args()
    events = make_events(args.events)
    with tempfile.TemporaryDirectory(prefix="streamdesk-bench-") as tmp:
        directory = Path(tmp)
        file = directory / "events.jsonl"
        file.write_bytes(b"".join(orjson.dumps(event) + b"\n" for event in events))
        size = file.stat().st_size / 1e6
        process, url = start_server(directory / "server")
        try:
            direct = asyncio.run(server_rate(url, events))
            from_file = verb_rate(url, "/bench/file", file, args.events, piped=False)
            from_pipe = verb_rate(url, "/bench/pipe", file, args.events, piped=True)
        finally:
            process.terminate()
            process.wait(30)
    print(f"{args.events:,} events, {size:.1f} MB of JSON Lines, one server process on loopback")
    print(f"server's own rate (appendBatch of {BATCH:,}, in memory): {direct:>10,.0f} events/s")
    for label, rate in (
        ("streamdesk append @FILE", from_file),
        ("streamdesk append - (pipe)", from_pipe),
    ):
        verdict = "met" if rate >= TARGET else "NOT met"
        print(
            f"{label + ' (wall, start-up included):':<55}{rate:>10,.0f} events/s"
            f"  ({rate / direct:.0%} of the server's own rate; target >= {TARGET:,}/s: {verdict})"
        )


if __name__ == "__main__":
    main()
