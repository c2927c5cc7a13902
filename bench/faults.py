"""Fault runs: each fault caused for real, several times, and the mirror compared with the server
event by event after every commit and at the end.

Kinds (the embedded server on loopback, real mirror files, real processes):

- ``reset-catch-up``: the stream is reset and grown back while a catch-up page is held by a proxy;
- ``reset-subscribe``: reset and grown back while the resubscription is held by the proxy;
- ``reset-silent``: reset behind a frozen socket, so only the liveness probe can notice;
- ``damage-events`` / ``damage-index``: random bytes over a middle page of ``events`` / of the
  ``(type, local_index)`` index of a closed mirror, then reopened;
- ``writer-sigkill``: a writer process killed with SIGKILL mid catch-up, then resumed here.

Per kind it prints: runs, events compared, lost, duplicated, gaps, mismatched (in the final
mirror), mixed commits (a commit whose snapshot held rows of two incarnations, or rows its
incarnation's log does not have at that offset) and the time from the fault to a mirror equal to
the server (median and max).

    .venv/bin/python bench/faults.py [--runs 5] [--kinds reset-catch-up,damage-events,...]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fault_support import (
    CommitSnapshots,
    Event,
    page_of,
    read_mirror,
    server_log,
    write_garbage,
)
from mirror_support import Proxy, Worker, open_registry, seed, wait_status

from mirror.runtime import RuntimeTiming, StreamRuntime
from mirror.verify import first_difference
from server.run import EmbeddedServer
from wire.stream_client import StreamClient

PATH = "/bench/faults"
TIMING = RuntimeTiming(catchup_page=500, election_poll=0.05, probe_interval=30.0)


@dataclass
class Outcome:
    events: int = 0
    lost: int = 0
    duplicated: int = 0
    gaps: int = 0
    mismatched: int = 0
    mixed_commits: int = 0
    converge_s: float = 0.0


def compare(mine: list[Event], log: list[Event], outcome: Outcome) -> None:
    """Count what the final mirror got wrong against the server's log as it was when the
    mirror got there (what the server appended later, like a closing subscriber's fact, is
    not asked of it)."""
    mine = [event for event in mine if int(event["offset"]) <= len(log)]
    offsets = [int(event["offset"]) for event in mine]
    seen: dict[int, Event] = {}
    for offset, event in zip(offsets, mine, strict=True):
        if offset in seen:
            outcome.duplicated += 1
        seen[offset] = event
    outcome.gaps += sum(1 for a, b in itertools.pairwise(offsets) if b > a + 1)
    for event in log:
        offset = int(event["offset"])
        if offset not in seen:
            outcome.lost += 1
        elif seen[offset] != event:
            outcome.mismatched += 1
    outcome.events += len(log)


def mixed(snapshots: list[tuple[str | None, list[Event]]], logs: list[list[Event]]) -> int:
    by_incarnation = {str(log[0]["createdAt"]): log for log in logs if log}
    bad = 0
    for incarnation, events in snapshots:
        log = by_incarnation.get(str(incarnation))
        if events and (log is None or first_difference(events, log[: len(events)]) is not None):
            bad += 1
    return bad


async def synced(runtime: StreamRuntime, client: StreamClient, incarnation: str | None) -> None:
    head = int((await client.runtime_state())["coreProcessorState"]["maxOffset"])
    await wait_status(
        runtime,
        lambda s: (
            s.connection == "subscribed"
            and s.event_count >= head
            and (incarnation is None or s.incarnation == incarnation)
        ),
        60,
    )


async def reset_and_regrow(client: StreamClient, count: int) -> tuple[list[Event], str]:
    old = await server_log(client)
    await asyncio.sleep(0.01)
    await client.reset()
    await seed(client, count, size=20)
    return old, str((await client.runtime_state())["coreProcessorState"]["createdAt"])


async def run_reset(kind: str, root: Path) -> Outcome:
    outcome = Outcome()
    timing = (
        TIMING
        if kind != "reset-silent"
        else RuntimeTiming(catchup_page=500, election_poll=0.05, probe_interval=0.3)
    )
    async with (
        EmbeddedServer(root / "server") as server,
        StreamClient(server.url, PATH) as client,
        Proxy(server.url) as proxy,
        open_registry(root / "data", timing) as registry,
    ):
        await seed(client, 3000 if kind == "reset-catch-up" else 800, size=20)
        runtime = registry.acquire(proxy.url, "default", PATH)
        with CommitSnapshots(runtime.mirror_file) as commits:
            if kind == "reset-catch-up":
                hold = proxy.hold(b'"getEvents"', nth=3)
                runtime.retain()
                await asyncio.wait_for(hold.reached.wait(), 30)
            else:
                runtime.retain()
                await synced(runtime, client, None)
                if kind == "reset-subscribe":
                    hold = proxy.hold(b"upgrade: websocket")
                    for pipe in proxy.pipes:
                        if pipe.websocket:
                            pipe.cut()
                    await asyncio.wait_for(hold.reached.wait(), 30)
                else:
                    proxy.freeze_websockets()
            old_log, created = await reset_and_regrow(client, 3000)
            started = time.perf_counter()  # the fault is complete: reset and grown back
            if kind != "reset-silent":
                hold.release()
            await synced(runtime, client, created)
            outcome.converge_s = time.perf_counter() - started
            new_log = await server_log(client)
        _, events = read_mirror(runtime.mirror_file)
        compare(events, new_log, outcome)
        outcome.mixed_commits = mixed(commits.snapshots, [old_log, new_log])
    return outcome


async def run_damage(kind: str, root: Path) -> Outcome:
    outcome = Outcome()
    async with (
        EmbeddedServer(root / "server") as server,
        StreamClient(server.url, PATH) as client,
    ):
        await seed(client, 6000, size=60)
        async with open_registry(root / "data", TIMING) as registry:
            runtime = registry.acquire(server.url, "default", PATH)
            runtime.retain()
            await synced(runtime, client, None)
            file = runtime.mirror_file
        write_garbage(
            file, page_of(file, "events" if kind == "damage-events" else "events_type_local_index")
        )
        started = time.perf_counter()
        async with open_registry(root / "data", TIMING) as registry:
            runtime = registry.acquire(server.url, "default", PATH)
            runtime.retain()
            await wait_status(runtime, lambda s: "was damaged" in (s.notice or ""), 60)
            await synced(runtime, client, None)
            outcome.converge_s = time.perf_counter() - started
            log = await server_log(client)
        _, events = read_mirror(file)
        compare(events, log, outcome)
    return outcome


async def run_writer_sigkill(root: Path) -> Outcome:
    outcome = Outcome()
    async with (
        EmbeddedServer(root / "server") as server,
        StreamClient(server.url, PATH) as client,
    ):
        await seed(client, 60_000, batch=5000, size=40)
        worker = await Worker.start(root / "data", server.url, PATH, "--catchup-page", "2000")
        try:
            await worker.wait_line(lambda line: (line.get("catchup_done") or 0) >= 20_000, 60)
        finally:
            worker.kill()
            await worker.process.wait()
        started = time.perf_counter()
        async with open_registry(root / "data", TIMING) as registry:
            runtime = registry.acquire(server.url, "default", PATH)
            runtime.retain()
            await synced(runtime, client, None)
            outcome.converge_s = time.perf_counter() - started
            file = runtime.mirror_file
            log = await server_log(client)
        _, events = read_mirror(file)
        compare(events, log, outcome)
    return outcome


KINDS: dict[str, Callable[[Path], Awaitable[Outcome]]] = {
    "reset-catch-up": lambda root: run_reset("reset-catch-up", root),
    "reset-subscribe": lambda root: run_reset("reset-subscribe", root),
    "reset-silent": lambda root: run_reset("reset-silent", root),
    "damage-events": lambda root: run_damage("damage-events", root),
    "damage-index": lambda root: run_damage("damage-index", root),
    "writer-sigkill": run_writer_sigkill,
}


async def main(args: argparse.Namespace) -> None:
    logging.disable(logging.WARNING)  # the runtime's own account of each fault is expected
    kinds = args.kinds.split(",") if args.kinds else list(KINDS)
    print(
        f"{'kind':16} {'runs':>4} {'events':>8} {'lost':>4} {'dup':>4} {'gaps':>4} "
        f"{'mism':>4} {'mixed':>5} {'converge median / max':>22}"
    )
    for kind in kinds:
        outcomes: list[Outcome] = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                outcomes.append(await KINDS[kind](Path(tmp)))
        total: dict[str, Any] = {
            name: sum(getattr(o, name) for o in outcomes)
            for name in ("events", "lost", "duplicated", "gaps", "mismatched", "mixed_commits")
        }
        times = [o.converge_s for o in outcomes]
        print(
            f"{kind:16} {len(outcomes):>4} {total['events']:>8} {total['lost']:>4} "
            f"{total['duplicated']:>4} {total['gaps']:>4} {total['mismatched']:>4} "
            f"{total['mixed_commits']:>5} {statistics.median(times):>10.2f} s / {max(times):.2f} s"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kinds", default="", help="comma-separated; default: all")
    asyncio.run(main(parser.parse_args()))
