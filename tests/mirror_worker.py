"""A process that mirrors one stream through the real runtime and reports on stdout.

    python tests/mirror_worker.py --data-dir DIR --url URL --path PATH [--catchup-page N]

One JSON object per line: ``{"kind": "status", "t": <unix time>, "connection", "role",
"count", "catchup_done", "error"}`` on every status change, ``{"kind": "live", "t", "count"}``
whenever a live query over the mirror sees a new event count (the latency a view would see),
and ``{"kind": "closed"}`` after a clean shutdown. Runs until stdin closes or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from mirror.runtime import RuntimeRegistry, RuntimeStatus, RuntimeTiming


def emit(kind: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"kind": kind, "t": time.time(), **fields}) + "\n")
    sys.stdout.flush()


async def main(args: argparse.Namespace) -> None:
    timing = RuntimeTiming(catchup_page=args.catchup_page, election_poll=0.05)
    registry = RuntimeRegistry(Path(args.data_dir), timing=timing)
    runtime = registry.acquire(args.url, "default", args.path)

    def on_status(status: RuntimeStatus) -> None:
        emit(
            "status",
            connection=status.connection,
            role=status.role,
            count=status.event_count,
            catchup_done=None if status.catchup is None else status.catchup.done,
            error=status.last_error,
            notice=status.notice,
        )

    def on_rows(rows: list[tuple[Any, ...]]) -> None:
        emit("live", count=int(rows[0][0] or 0) if rows else 0)

    runtime.add_listener(on_status)
    runtime.live_query("SELECT max(local_index) + 1 FROM events", (), on_rows)
    runtime.retain()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.read(1) else None)
    await stop.wait()
    runtime.release()
    await registry.aclose()
    emit("closed")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--catchup-page", type=int, default=5000)
    asyncio.run(main(parser.parse_args()))
