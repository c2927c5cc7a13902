"""Mirror ingest benchmark: synthetic events through ``MirrorWriter`` vs bare SQLite inserts.

Applies N synthetic committed events (about 200-byte payloads, 5 event types) in chunks through
``MirrorWriter.apply_sync`` into a fresh mirror file (raw rows + feed rows + both checkpoints, one
transaction per chunk) and, in the same run, inserts the same rows ``(offset, type, json)`` with
``executemany`` into a plain table of a fresh file with the same PRAGMAs (WAL,
synchronous=NORMAL), one transaction per chunk. The bare rows are built before timing starts, so
the bare rate excludes JSON serialization while the mirror rate includes it. The bare run is done
before and after the mirror run and averaged, because the machine is shared.

Type patterns: ``random`` picks each event's type at random (worst case for the feed: about 80%
of events start a new feed row), ``runs`` changes type every ``--run-length`` events.

    .venv/bin/python bench/ingest.py [--events 1000000] [--chunk 1000] [--pattern random|runs]
                                     [--async-stall]

``--async-stall`` repeats the mirror run through ``await MirrorWriter.ingest`` (SQLite work in a
worker thread) while a 5 ms ticker measures the event loop's longest stall.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import orjson
from bench_support import StallProbe

from app.interpreter_tuning import tune_interpreter
from mirror.db import MirrorDb
from mirror.processors import MirrorWriter

TYPES = [f"app.example/bench-{name}" for name in ("alpha", "beta", "gamma", "delta", "epsilon")]
FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit " * 8
CREATED_AT = "2026-06-01T12:00:00.123Z"


def synthetic_chunks(
    total: int, chunk: int, pattern: str, run_length: int, seed: int = 7
) -> Iterator[list[dict[str, Any]]]:
    """Chunks of committed events, generated lazily so memory stays flat."""
    rng = random.Random(seed)
    current = TYPES[0]
    for first in range(1, total + 1, chunk):
        events = []
        for offset in range(first, min(total, first + chunk - 1) + 1):
            if offset == 1:
                event_type = "events.iterate.com/stream/created"
            elif offset == 2:
                event_type = "events.iterate.com/stream/woken"
            elif pattern == "random":
                event_type = rng.choice(TYPES)
            else:
                if offset % run_length == 0:
                    current = rng.choice(TYPES)
                event_type = current
            start = offset % 64
            events.append(
                {
                    "type": event_type,
                    "payload": {"n": offset, "text": FILLER[start : start + 180]},
                    "offset": offset,
                    "createdAt": CREATED_AT,
                }
            )
        yield events


def bare_rate(directory: Path, args: argparse.Namespace, name: str) -> float:
    """Events/s of executemany into a plain (offset, type, json) table."""
    path = directory / name
    conn = apsw.Connection(str(path))
    conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL")
    conn.execute('CREATE TABLE plain ("offset" INTEGER, type TEXT, json TEXT)')
    elapsed = 0.0
    for events in synthetic_chunks(args.events, args.chunk, args.pattern, args.run_length):
        rows = [(e["offset"], e["type"], orjson.dumps(e).decode()) for e in events]
        started = time.perf_counter()
        with conn:
            conn.executemany('INSERT INTO plain ("offset", type, json) VALUES (?, ?, ?)', rows)
        elapsed += time.perf_counter() - started
    conn.close()
    return float(args.events) / elapsed


def mirror_rate(directory: Path, args: argparse.Namespace) -> tuple[float, MirrorDb]:
    """Events/s of MirrorWriter.apply_sync (raw + feed + checkpoints per chunk)."""
    db = MirrorDb.open(directory / "mirror.sqlite3")
    writer = MirrorWriter(db, "bench")
    elapsed = 0.0
    done = 0
    for events in synthetic_chunks(args.events, args.chunk, args.pattern, args.run_length):
        started = time.perf_counter()
        done += writer.apply_sync(events)
        elapsed += time.perf_counter() - started
    if done != args.events:
        raise SystemExit(f"applied {done} events, expected {args.events}")
    return args.events / elapsed, db


async def async_stall(directory: Path, args: argparse.Namespace) -> tuple[float, float]:
    """Events/s through ``await MirrorWriter.ingest`` and the event loop's longest stall (s)."""
    db = MirrorDb.open(directory / "mirror-async.sqlite3")
    writer = MirrorWriter(db, "bench")
    probe = StallProbe()
    probe.start()
    elapsed = 0.0
    for events in synthetic_chunks(args.events, args.chunk, args.pattern, args.run_length):
        started = time.perf_counter()
        await writer.ingest(events)
        elapsed += time.perf_counter() - started
    longest = await probe.stop()
    db.close()
    return args.events / elapsed, longest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--pattern", choices=("random", "runs"), default="random")
    parser.add_argument("--run-length", type=int, default=50)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the files")
    parser.add_argument(
        "--async-stall",
        action="store_true",
        help="also ingest through the async API and report the longest event-loop stall",
    )
    args = parser.parse_args(argv)
    tune_interpreter()  # the process runs with the app's settings (app.cli.main)

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="streamdesk-bench-") as tmp:
        directory = Path(tmp)
        bare_before = bare_rate(directory, args, "bare-before.sqlite3")
        rate, db = mirror_rate(directory, args)
        bare_after = bare_rate(directory, args, "bare-after.sqlite3")
        bare = (bare_before + bare_after) / 2
        feed_rows = db.feed_count()
        size_mb = db.path.stat().st_size / 1e6
        db.close()
        stall = asyncio.run(async_stall(directory, args)) if args.async_stall else None
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"events            {args.events:,} in chunks of {args.chunk} ({args.pattern} types)")
    print(f"mirror writer     {rate:,.0f} events/s (raw + feed + checkpoints)")
    print(
        f"bare executemany  {bare:,.0f} rows/s (before {bare_before:,.0f}, after {bare_after:,.0f})"
    )
    print(f"ratio             {rate / bare:.1%} of bare")
    print(f"feed rows         {feed_rows:,}; mirror file {size_mb:,.0f} MB")
    if stall is not None:
        rate_async, longest = stall
        print(f"async ingest      {rate_async:,.0f} events/s", end=", ")
        print(f"longest loop stall {longest * 1e3:.1f} ms")
    print(f"peak RSS          {peak_mb:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
