"""Stream server benchmark: appends over one WebSocket session and delivery to one subscriber,
each next to the bare SQLite insert rate of the same rows measured in the same run.

    .venv/bin/python bench/server_throughput.py [--events 20000] [--deliver 50000]

The server runs as a separate process (`python -m server`), as it does for real clients.
Target (SPEC): >= 20,000 appended events/s over one WebSocket session in batches of 100.
"""

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import apsw
import orjson
from bench_support import start_server

from wire.paths import stream_url
from wire.stream_client import StreamClient
from wire.ws import connect_ws

REPO_ROOT = Path(__file__).resolve().parent.parent
BATCH = 100


def make_events(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"type": "bench.event", "payload": {"i": start + i, "text": "x" * 100, "ok": True}}
        for i in range(count)
    ]


def bare_sqlite_rate(rows: list[dict[str, Any]], directory: Path) -> float:
    """Inserts/s of the committed events' JSON into the server's events schema, 100 per
    transaction, WAL + synchronous=NORMAL like the server."""
    db = apsw.Connection(str(directory / "bare.sqlite3"))
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        'CREATE TABLE events ("offset" INTEGER PRIMARY KEY, type TEXT NOT NULL, '
        "created_at TEXT NOT NULL, idempotency_key TEXT UNIQUE, body BLOB)"
    )
    prepared = [(e["offset"], e["type"], e["createdAt"], None, orjson.dumps(e)) for e in rows]
    started = time.perf_counter()
    for i in range(0, len(prepared), BATCH):
        with db:
            db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", prepared[i : i + BATCH])
    elapsed = time.perf_counter() - started
    db.close()
    return len(prepared) / elapsed


async def bench_appends(url: str, count: int) -> tuple[float, list[dict[str, Any]]]:
    ws = await connect_ws(stream_url(url, "/bench/appends", ws=True))
    try:
        await ws.main.appendBatch({"events": make_events(BATCH)})  # wake + warm up
        committed: list[dict[str, Any]] = []
        started = time.perf_counter()
        for i in range(0, count, BATCH):
            committed.extend(await ws.main.appendBatch({"events": make_events(BATCH, i)}))
        elapsed = time.perf_counter() - started
    finally:
        await ws.aclose()
    return count / elapsed, committed


async def bench_delivery(url: str, count: int) -> tuple[float, float]:
    """(events/s delivered to one subscriber replaying from 0, events/s read by getEvents
    pages of 1,000)."""
    async with StreamClient(url, "/bench/delivery") as client:
        for i in range(0, count, 1000):
            await client.append_batch(make_events(1000, i))
        total = count + 3  # created, woken, the events, this subscription's connected fact
        done = asyncio.Event()
        received = 0

        def on_batch(batch: dict[str, Any]) -> None:
            nonlocal received
            received += len(batch["events"])
            if received >= total:
                done.set()

        started = time.perf_counter()
        subscription = await client.subscribe(on_batch, replay_after_offset=0)
        await asyncio.wait_for(done.wait(), 300)
        delivery_rate = total / (time.perf_counter() - started)
        await subscription.unsubscribe()

        started = time.perf_counter()
        cursor, read = 0, 0
        while True:
            page = await client.get_events(after_offset=cursor, limit=1000)
            if not page:
                break
            read += len(page)
            cursor = page[-1]["offset"]
        paging_rate = read / (time.perf_counter() - started)
    return delivery_rate, paging_rate


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000, help="events to append")
    parser.add_argument("--deliver", type=int, default=50_000, help="events to deliver")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="streamdesk-bench-") as tmp:
        directory = Path(tmp)
        process, url = start_server(directory / "server")
        try:
            append_rate, committed = await bench_appends(url, args.events)
            bare = bare_sqlite_rate(committed, directory)
            delivery_rate, paging_rate = await bench_delivery(url, args.deliver)
        finally:
            process.terminate()
            process.wait(30)
    print(f"bare SQLite inserts (same rows, batches of {BATCH}): {bare:>10,.0f} events/s")
    print(
        f"appendBatch over one WebSocket, batches of {BATCH}:  {append_rate:>10,.0f} events/s"
        f"  ({append_rate / bare:.1%} of bare SQLite; target >= 20,000/s: "
        f"{'met' if append_rate >= 20_000 else 'NOT met'})"
    )
    print(
        f"delivery to one subscriber (replay from 0):   {delivery_rate:>10,.0f} events/s"
        f"  ({delivery_rate / bare:.1%} of bare SQLite)"
    )
    print(
        f"getEvents pages of 1,000 over HTTP batch:      {paging_rate:>10,.0f} events/s"
        f"  ({paging_rate / bare:.1%} of bare SQLite)"
    )


if __name__ == "__main__":
    asyncio.run(main())
