"""The background integrity check on a big mirror: how long ``quick_check`` takes, and what it
does to the writer meanwhile.

Builds a mirror of N synthetic events (``bench/ingest.py``'s generator, through
``MirrorWriter.apply_sync``), then, in the same run:

1. ``mirror.integrity.quick_check`` alone (its own read-only connection, as the runtime runs it
   in a thread after opening a mirror);
2. the writer committing chunks of new events with nothing else running, and the same while
   ``quick_check`` runs in a thread: commits per second and the longest single commit, side by
   side, so the ratio shows how much the check holds the writer.

    .venv/bin/python bench/integrity.py [--events 1000000] [--chunk 1000] [--commits 200]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from ingest import CREATED_AT, FILLER, TYPES, synthetic_chunks

from app.interpreter_tuning import tune_interpreter
from mirror.db import MirrorDb
from mirror.integrity import quick_check
from mirror.processors import MirrorWriter


def commit_run(writer: MirrorWriter, first: int, commits: int, chunk: int) -> tuple[float, float]:
    """(commits/s, longest commit in ms) for ``commits`` chunks from offset ``first``."""
    longest = 0.0
    started = time.perf_counter()
    for start in range(first, first + commits * chunk, chunk):
        events = [
            {
                "type": TYPES[offset % len(TYPES)],
                "payload": {"n": offset, "text": FILLER[:180]},
                "offset": offset,
                "createdAt": CREATED_AT,
            }
            for offset in range(start, start + chunk)
        ]
        begin = time.perf_counter()
        writer.apply_sync(events)
        longest = max(longest, time.perf_counter() - begin)
    return commits / (time.perf_counter() - started), longest * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--commits", type=int, default=200)
    args = parser.parse_args()
    tune_interpreter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mirror.sqlite3"
        db = MirrorDb.open(path)
        writer = MirrorWriter(db)
        started = time.perf_counter()
        for events in synthetic_chunks(args.events, 5000, "random", 50):
            writer.apply_sync(events)
        print(f"built {args.events:,} events in {time.perf_counter() - started:.1f} s")
        size = sum(p.stat().st_size for p in path.parent.iterdir() if p.is_file())
        print(f"mirror file(s): {size / 1e6:.0f} MB")

        began = time.perf_counter()
        problem = quick_check(path)
        alone = time.perf_counter() - began
        print(f"quick_check alone: {alone:.2f} s ({problem or 'ok'})")

        next_offset = args.events + 1
        rate_idle, longest_idle = commit_run(writer, next_offset, args.commits, args.chunk)
        next_offset += args.commits * args.chunk

        checked: list[float] = []

        def check() -> None:
            begin = time.perf_counter()
            quick_check(path)
            checked.append(time.perf_counter() - begin)

        thread = threading.Thread(target=check)
        thread.start()
        time.sleep(0.05)
        rate_busy, longest_busy = commit_run(writer, next_offset, args.commits, args.chunk)
        thread.join()
        print(f"quick_check beside the writer: {checked[0]:.2f} s")
        print(
            f"writer, {args.chunk}-event commits: alone {rate_idle:.0f}/s (longest "
            f"{longest_idle:.1f} ms); during quick_check {rate_busy:.0f}/s (longest "
            f"{longest_busy:.1f} ms); ratio {rate_busy / rate_idle:.2f}"
        )
        db.close()


if __name__ == "__main__":
    main()
