"""Catch-up benchmark: mirror a big stream from the embedded server over loopback through the
real runtime, next to the bare SQLite insert rate of the same rows measured in the same run.

    .venv/bin/python bench/catchup.py [--events 1000000] [--page 5000] [--pattern random|runs]
                                      [--search-off-too]

1. Seed: N events (about 200-byte payloads, 5 types) are written straight through the server's
   own engine (``server.registry.StreamRegistry``, batches of 10,000) in a subprocess: not what
   is measured, and it keeps this process's memory out of it.
2. The server runs as a subprocess (``python -m server``), so the peak RSS printed is the
   client's alone.
3. Mirror: a fresh data directory, ``RuntimeRegistry.acquire(...).retain()``, timed until the
   runtime is subscribed and holds every event (getEvents pages, raw + feed + checkpoints per
   page, then the subscription). The longest event-loop stall during it is printed too.
4. Bare: the same events (read back from the mirror, untimed) inserted as ``(offset, type,
   json)`` rows with ``executemany``, one transaction per page, WAL + synchronous=NORMAL; run
   twice and averaged, because the machine is shared.

5. ``--reference-events M`` (e.g. ``--events 10000000 --reference-events 1000000``): the same
   server also holds a second stream of M events (same pattern), mirrored into fresh files
   before and after the main stream; the main rate is printed as a share of their mean, with
   each run's CPU per event split into client user, client system and server time, so a
   difference of scale is told apart from the machine's drift during the run.

Targets (SPEC): >= 60,000 events/s, >= 40% of the bare rate, peak RSS < 400 MB at 1,000,000;
at 10,000,000 (issue 12) the rate within 10% of the 1,000,000 rate and peak RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw
import orjson
from bench_support import StallProbe, start_server

from app.interpreter_tuning import tune_interpreter

REPO_ROOT = Path(__file__).resolve().parent.parent
STREAM = "/bench/catchup"
REFERENCE_STREAM = "/bench/catchup-reference"
TYPES = [f"bench.catchup/{name}" for name in ("alpha", "beta", "gamma", "delta", "epsilon")]
FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit " * 6
SEED_BATCH = 10_000
_LISTENING = re.compile(r"listening on (http://\S+)")


def synthetic(count: int, pattern: str, seed: int = 7) -> Iterator[list[dict[str, Any]]]:
    """Event inputs in batches; ``random`` types are the feed's worst case (most events start
    a new feed row), ``runs`` changes type every 1-60 events."""
    rng = random.Random(seed)
    current, left = TYPES[0], 0
    batch: list[dict[str, Any]] = []
    for n in range(count):
        if pattern == "random":
            event_type = rng.choice(TYPES)
        else:
            if left == 0:
                current, left = rng.choice(TYPES), rng.randint(1, 60)
            left -= 1
            event_type = current
        start = n % 64
        batch.append({"type": event_type, "payload": {"n": n, "text": FILLER[start : start + 170]}})
        if len(batch) == SEED_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def seed_server(server_dir: Path, streams: dict[str, int], pattern: str) -> None:
    """Runs in a subprocess: write each stream's events through the server's engine."""
    from server.registry import StreamRegistry

    registry = StreamRegistry(server_dir)
    try:
        for path, count in streams.items():
            engine = registry.engine("default", path)
            for batch in synthetic(count, pattern):
                engine.append_batch(batch)
    finally:
        registry.close()


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CatchupRun:
    """One mirrored stream: wall seconds to subscribed-and-complete, the longest event-loop
    stall, the events, the mirror file, and CPU seconds of this process (user, system) and of
    the server."""

    elapsed: float
    longest_stall: float
    events: int
    file: Path
    client_user: float
    client_system: float
    server_cpu: float

    @property
    def rate(self) -> float:
        return self.events / self.elapsed

    def cpu_line(self) -> str:
        per = 1e6 / self.events
        return (
            f"client {self.client_user * per:.1f} µs user + {self.client_system * per:.1f} µs "
            f"system, server {self.server_cpu * per:.1f} µs (wall {self.elapsed * per:.1f} µs)"
        )


async def mirror(
    url: str,
    data_dir: Path,
    page: int,
    server_pid: int,
    search: bool = True,
    stream: str = STREAM,
) -> CatchupRun:
    """Mirror ``stream`` into a fresh ``data_dir``; ``search=False`` turns the mirror's search
    index off first."""
    from mirror.db import MirrorDb
    from mirror.runtime import RuntimeRegistry, RuntimeTiming
    from mirror.search.indexer import set_search_enabled
    from wire.stream_client import StreamClient

    async with StreamClient(url, stream) as client:
        state = await client.runtime_state()
    total = int(state["coreProcessorState"]["maxOffset"])
    registry = RuntimeRegistry(data_dir, timing=RuntimeTiming(catchup_page=page))
    probe = StallProbe()
    probe.start()
    runtime = registry.acquire(url, "default", stream)
    if not search:
        db = MirrorDb.open(runtime.mirror_file)
        set_search_enabled(db, False)
        db.close()
    started = time.perf_counter()
    client_before, server_before = os.times(), process_cpu(server_pid)
    runtime.retain()
    await runtime.wait_until(lambda s: s.connection == "subscribed" and s.event_count >= total)
    elapsed = time.perf_counter() - started
    client_after, server_after = os.times(), process_cpu(server_pid)
    longest = await probe.stop()
    file = runtime.mirror_file
    runtime.release()
    await registry.aclose()
    return CatchupRun(
        elapsed,
        longest,
        total,
        file,
        client_after.user - client_before.user,
        client_after.system - client_before.system,
        server_after - server_before,
    )


def bare_rate(mirror_file: Path, target: Path, page: int) -> float:
    """Rows/s of executemany (offset, type, json) per page, rows read back untimed."""
    source = apsw.Connection(str(mirror_file), flags=apsw.SQLITE_OPEN_READONLY)
    conn = apsw.Connection(str(target))
    conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL")
    conn.execute('CREATE TABLE plain ("offset" INTEGER PRIMARY KEY, type TEXT, json TEXT)')
    elapsed, done, after = 0.0, 0, -1
    while True:
        rows = source.execute(
            "SELECT local_index, json(raw_jsonb) FROM events WHERE local_index > ? "
            "ORDER BY local_index LIMIT ?",
            (after, page),
        ).fetchall()
        if not rows:
            break
        after = int(str(rows[-1][0]))
        events = [orjson.loads(str(text)) for _, text in rows]
        batch = [(e["offset"], e["type"], orjson.dumps(e).decode()) for e in events]
        started = time.perf_counter()
        with conn:
            conn.executemany('INSERT INTO plain ("offset", type, json) VALUES (?, ?, ?)', batch)
        elapsed += time.perf_counter() - started
        done += len(batch)
    conn.close()
    source.close()
    return done / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--page", type=int, default=5000, help="getEvents page size")
    parser.add_argument("--pattern", choices=("random", "runs"), default="random")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the files")
    parser.add_argument(
        "--search-off-too",
        action="store_true",
        help="catch up a second time with the search index off, and print both rates",
    )
    parser.add_argument(
        "--reference-events",
        type=int,
        default=0,
        help="also mirror a stream of this many events before and after, and compare rates",
    )
    args = parser.parse_args(argv)
    tune_interpreter()  # the process runs with the app's settings (app.cli.main)

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="streamdesk-catchup-") as tmp:
        directory = Path(tmp)
        streams = {STREAM: args.events}
        if args.reference_events:
            streams[REFERENCE_STREAM] = args.reference_events
        started = time.perf_counter()
        # Seeded in a process of its own so this one's peak RSS is the client's alone.
        seed = (
            "import pathlib, sys; sys.path.insert(0, 'bench'); import catchup; "
            f"catchup.seed_server(pathlib.Path({str(directory / 'server' / 'server')!r}), "
            f"{streams!r}, {args.pattern!r})"
        )
        subprocess.run(
            [sys.executable, "-c", seed],
            check=True,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        seeded = time.perf_counter() - started
        server, url = start_server(directory / "server")
        references: list[CatchupRun] = []

        def reference(name: str) -> None:
            if args.reference_events:
                run = mirror(url, directory / name, args.page, server.pid, True, REFERENCE_STREAM)
                references.append(asyncio.run(run))

        try:
            reference("reference-before")
            main_run = asyncio.run(mirror(url, directory / "client", args.page, server.pid))
            # Peak RSS is read before the second reference run: it is the main stream's.
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            reference("reference-after")
            size_mb = main_run.file.stat().st_size / 1e6
            bare_first = bare_rate(main_run.file, directory / "bare-1.sqlite3", args.page)
            off = None
            if args.search_off_too:
                off = asyncio.run(
                    mirror(url, directory / "client-off", args.page, server.pid, False)
                )
            bare_second = bare_rate(main_run.file, directory / "bare-2.sqlite3", args.page)
        finally:
            server.terminate()
            server.wait(30)
    bare = (bare_first + bare_second) / 2
    total, rate = main_run.events, main_run.rate
    print(
        f"events             {total:,} ({args.pattern} types, pages of {args.page}); "
        f"seeded in {seeded:.1f} s"
    )
    print(f"catch-up           {rate:,.0f} events/s ({main_run.elapsed:.1f} s to subscribed)")
    print(f"bare executemany   {bare:,.0f} rows/s ({bare_first:,.0f} / {bare_second:,.0f})")
    print(f"ratio              {rate / bare:.1%} of bare")
    if off is not None:
        off_rate = off.rate
        print(
            f"search index off  {off_rate:,.0f} events/s, {off_rate / bare:.1%} of bare; "
            f"on/off {rate / off_rate:.1%}"
        )
    print(
        f"peak RSS (client)  {peak_mb:,.0f} MB; mirror file {size_mb:,.0f} MB "
        f"({size_mb * 1e6 / total:,.0f} bytes per event)"
    )
    print(f"longest loop stall {main_run.longest_stall * 1e3:.0f} ms")
    print(f"CPU per event      {main_run.cpu_line()}")
    if references:
        before, after = references
        mean = (before.rate + after.rate) / 2
        print(
            f"reference stream   {before.events:,} events: {before.rate:,.0f} events/s before, "
            f"{after.rate:,.0f} after; main rate {rate / mean:.1%} of their mean"
        )
        print(f"  before           {before.cpu_line()}")
        print(f"  after            {after.cpu_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
