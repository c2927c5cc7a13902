"""Search benchmark: build a mirror of N synthetic events, index it, and time searches against
the same searches answered by a full scan, in one run.

    .venv/bin/python bench/search.py [--events 1000000] [--reps 20]

1. Mirror: N events with realistic payloads (users, order ids, sentences from a 2,000-word
   vocabulary, amounts, tags; metadata with latencyMs, source, requestId) written through
   ``MirrorWriter.apply_sync`` in chunks of 5,000, the runtime's write path.
2. Scan: every query answered by ``SearchReads`` before any index exists (so by scanning
   ``events``: ``instr`` over the lower-cased JSON text, ``json_type``/``->>`` for filters),
   first page (50 hits) and count.
3. Index: ``SearchIndexer.index_next`` in its default chunks (one transaction each) until done;
   build rate, time per transaction (how long the writer is held), and the index's bytes per
   event next to the mirror's own (page counts before and after).
4. The same queries with the index: first page p50/p95 over ``--reps`` runs, count p50/p95,
   "hit k of n" (position) latency; the scan's median next to it and the ratio. Then the
   counts again over a ``ScanPool`` of ``--scan-threads`` more connections (default: one per
   spare core, at most 3), as the app and ``streamdesk search`` count.
5. Preview: a 100-row window with one-line previews (``mirror.preview_rows``) p50/p95.

Targets (issue 12), at 1,000,000 events: first page p95 < 100 ms, count < 300 ms.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from app.interpreter_tuning import tune_interpreter
from mirror.db import MirrorDb
from mirror.preview_rows import preview_window
from mirror.processors import MirrorWriter
from mirror.search.fields import field_names
from mirror.search.indexer import DEFAULT_CHUNK, SearchIndexer
from mirror.search.queries import SearchQuery, SearchReads
from mirror.search.scan_pool import scan_threads

CREATED_AT = "2026-06-01T12:00:00.123Z"
TYPES = [
    "app.shop/order-created",
    "app.shop/payment-failed",
    "app.chat/message-sent",
    "app.auth/user-login",
    "app.shop/refund-requested",
]
NAMES = ["Ada", "Grace", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Frances"]
SOURCES = ["web", "ios", "android", "api", "worker"]
CHUNK = 5000
RARE_EVERY = 100_000


def vocabulary(rng: random.Random, size: int = 2000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(size)]


def synthetic(total: int, seed: int = 12) -> Iterator[list[dict[str, Any]]]:
    rng = random.Random(seed)
    words = vocabulary(rng)
    for first in range(1, total + 1, CHUNK):
        events = []
        for offset in range(first, min(total, first + CHUNK - 1) + 1):
            sentence = " ".join(rng.choice(words) for _ in range(rng.randint(6, 16)))
            if offset % RARE_EVERY == 0:
                sentence += " zanzibar"
            if rng.random() < 0.05:
                sentence += " refund please"
            events.append(
                {
                    "type": rng.choice(TYPES),
                    "payload": {
                        "user": {"id": f"u{rng.randint(1, 5000)}", "name": rng.choice(NAMES)},
                        "orderId": f"ord-{offset:08d}",
                        "amount": rng.randint(100, 100_000) / 100,
                        "text": sentence,
                        "tags": rng.sample(["new", "vip", "eu", "us", "gift"], rng.randint(0, 2)),
                    },
                    "metadata": {
                        "latencyMs": rng.randint(1, 1000),
                        "source": rng.choice(SOURCES),
                        "requestId": f"{rng.getrandbits(64):016x}",
                    },
                    "offset": offset,
                    "createdAt": CREATED_AT,
                }
            )
        yield events


QUERIES: list[tuple[str, SearchQuery]] = [
    ("rare term 'zanzibar'", SearchQuery.build("zanzibar")),
    ("unique id 'ord-00777777'", SearchQuery.build("ord-00777777")),
    ("common term 'refund'", SearchQuery.build("refund")),
    ("very common 'grace'", SearchQuery.build("Grace")),
    ("text + type", SearchQuery.build("refund", types=["app.shop/payment-failed"])),
    ("filter user.id = u42", SearchQuery.build(where='payload.user.id = "u42"')),
    ("filter latencyMs > 995", SearchQuery.build(where="metadata.latencyMs > 995")),
    ("text + filter", SearchQuery.build("refund", where="metadata.latencyMs > 900")),
    ("short text 'zq'", SearchQuery.build("zq")),
    ("one character 'k'", SearchQuery.build("k")),
    ("one character + type", SearchQuery.build("k", types=["app.auth/user-login"])),
]


def timed(body: Callable[[], object], reps: int) -> list[float]:
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        body()
        samples.append(time.perf_counter() - started)
    return samples


def p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def page_bytes(db: MirrorDb) -> int:
    conn = db.connection
    size = conn.execute("PRAGMA page_size").fetchall()[0][0]
    count = conn.execute("PRAGMA page_count").fetchall()[0][0]
    return int(str(size)) * int(str(count))


def measure(reads: SearchReads, query: SearchQuery, reps: int, max_scan: int) -> dict[str, Any]:
    page = reads.hits(query, 0, 50, max_scan=max_scan)
    count = reads.count(query)
    first = timed(lambda: reads.hits(query, 0, 50, max_scan=max_scan), reps)
    counts = timed(lambda: reads.count(query), max(1, reps // 4))
    result: dict[str, Any] = {"first": first, "count": counts, "n": count.n, "page": page}
    if page.offsets:
        last = page.offsets[-1]
        result["position"] = timed(lambda: reads.position(query, last), max(1, reps // 4))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--scan-reps", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the files")
    parser.add_argument("--scan-threads", type=int, default=scan_threads())
    args = parser.parse_args(argv)
    tune_interpreter()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="streamdesk-bench-") as tmp:
        db = MirrorDb.open(Path(tmp) / "mirror.sqlite3")
        writer = MirrorWriter(db, "bench")
        started = time.perf_counter()
        for events in synthetic(args.events):
            writer.apply_sync(events)
        write_s = time.perf_counter() - started
        mirror_bytes = page_bytes(db)
        reads = SearchReads.open(db.path)

        scans = {name: measure(reads, q, args.scan_reps, args.events) for name, q in QUERIES}

        indexer = SearchIndexer(db)
        chunks: list[float] = []
        while True:
            started = time.perf_counter()
            progress = indexer.index_next()
            chunks.append(time.perf_counter() - started)
            if progress.done:
                break
        index_s = sum(chunks)
        index_bytes = page_bytes(db) - mirror_bytes
        indexed = {name: measure(reads, q, args.reps, 200_000) for name, q in QUERIES}
        pooled_reads = SearchReads.open(db.path, args.scan_threads)
        pooled: dict[str, tuple[list[float], int]] = {}
        for name, query in QUERIES:
            counted = pooled_reads.count(query).n
            samples = timed(partial(pooled_reads.count, query), max(1, args.reps // 4))
            pooled[name] = (samples, counted)
        pooled_reads.close()

        window = timed(
            lambda: reads.read(
                lambda conn: preview_window(conn, random.randrange(args.events - 100), 100, 100)
            ),
            args.reps,
        )
        fields = timed(lambda: reads.read(lambda conn: field_names(conn)), 3)
        reads.close()
        db.close()

    n = args.events
    print(f"events            {n:,} (mirror written at {n / write_s:,.0f} events/s)")
    print(f"mirror            {mirror_bytes / n:,.0f} bytes/event")
    print(
        f"index build       {n / index_s:,.0f} events/s ({index_s:.1f} s); "
        f"index {index_bytes / n:,.0f} bytes/event ({index_bytes / mirror_bytes:.0%} of mirror)"
    )
    print(
        f"index chunks      {DEFAULT_CHUNK:,} events per transaction: mean "
        f"{index_s / len(chunks) * 1000:.0f} ms, p95 {p(chunks, 0.95):.0f} ms, "
        f"max {max(chunks) * 1000:.0f} ms"
    )
    header = "query                       hits  first p50/p95 ms   scan ms  ratio"
    print(header + "   count p50/p95 ms   scan ms  ratio   hit-k ms")
    for name, _ in QUERIES:
        idx, scan = indexed[name], scans[name]
        first50, first95 = p(idx["first"], 0.5), p(idx["first"], 0.95)
        scan_first = p(scan["first"], 0.5)
        count50, count95 = p(idx["count"], 0.5), p(idx["count"], 0.95)
        scan_count = p(scan["count"], 0.5)
        position = p(idx["position"], 0.5) if "position" in idx else float("nan")
        print(
            f"{name:26} {idx['n']:6,} {first50:7.1f} /{first95:7.1f} {scan_first:9.1f} "
            f"{scan_first / max(first50, 1e-3):6.0f}x {count50:8.1f} /{count95:7.1f} "
            f"{scan_count:9.1f} {scan_count / max(count50, 1e-3):6.1f}x {position:9.1f}"
        )
        if idx["n"] != scan["n"]:
            print(f"  MISMATCH: index {idx['n']} hits, scan {scan['n']}")
    print(f"counts over a pool of {args.scan_threads} more connection(s), same queries:")
    print("query                       count p50/p95 ms  one connection p50  ratio")
    for name, _ in QUERIES:
        samples, n = pooled[name]
        one = p(indexed[name]["count"], 0.5)
        print(
            f"{name:26} {p(samples, 0.5):8.1f} /{p(samples, 0.95):7.1f} {one:18.1f} "
            f"{one / max(p(samples, 0.5), 1e-3):6.2f}x"
        )
        if n != indexed[name]["n"]:
            print(f"  MISMATCH: pooled count {n}, one connection {indexed[name]['n']}")
    print(f"preview window    100 rows: p50 {p(window, 0.5):.1f} ms, p95 {p(window, 0.95):.1f} ms")
    print(f"field names       {p(fields, 0.5):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
