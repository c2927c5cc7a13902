"""``streamdesk --self-test``: a headless end-to-end check of the packaged app.

Starts the embedded stream server in-process on a free port (in a temporary directory), appends
events, mirrors the stream through the real runtime (catch-up paging, then the live
subscription), appends more through the runtime, then compares the mirror with the server's log
event by event. Exit code 0 when they match; otherwise the reason goes to stderr and the exit
code is 1.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

from mirror.runtime import RuntimeRegistry, RuntimeTiming, StreamRuntime
from mirror.verify import verify_against_server
from server.run import EmbeddedServer
from wire.stream_client import StreamClient

log = logging.getLogger(__name__)

STREAM_PATH = "/self-test"
SEED_EVENTS = 1200
LIVE_EVENTS = 5
DEADLINE_S = 60.0
# Small pages and threshold, so the self-test goes through catch-up paging and live tailing.
TIMING = RuntimeTiming(catchup_threshold=100, catchup_page=250)


class SelfTestError(Exception):
    pass


def run_self_test(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="streamdesk-self-test-") as tmp:
            count = asyncio.run(_self_test(Path(tmp)))
    except SelfTestError as error:
        print(f"streamdesk self-test FAILED: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        log.exception("self-test crashed")
        print(f"streamdesk self-test FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    print(
        f"streamdesk self-test passed: {count} events mirrored ({elapsed:.1f} s)", file=sys.stderr
    )
    return 0


async def _wait_for(runtime: StreamRuntime, what: str, offset: int) -> None:
    try:
        async with asyncio.timeout(DEADLINE_S):
            await runtime.wait_until(
                lambda status: status.connection == "subscribed" and status.event_count >= offset
            )
    except TimeoutError:
        status = runtime.status
        raise SelfTestError(
            f"{what}: the mirror holds {status.event_count} of {offset} events after "
            f"{DEADLINE_S:g} s (connection {status.connection}, role {status.role}, "
            f"last error {status.last_error})"
        ) from None


async def _self_test(tmp: Path) -> int:
    async with (
        EmbeddedServer(tmp / "server") as server,
        StreamClient(server.url, STREAM_PATH) as client,
    ):
        types = ["app/order-placed", "app/order-paid", "app/note"]
        for first in range(0, SEED_EVENTS, 400):
            await client.append_batch(
                [
                    {
                        "type": types[i % 3 if i % 7 else 2],
                        "payload": {"n": i, "text": "x" * 40},
                    }
                    for i in range(first, first + 400)
                ]
            )
        registry = RuntimeRegistry(tmp / "data", timing=TIMING)
        runtime = registry.acquire(server.url, "default", STREAM_PATH)
        runtime.retain()
        try:
            state = await client.runtime_state()
            await _wait_for(runtime, "catch-up", int(state["coreProcessorState"]["maxOffset"]))
            if runtime.status.role != "leader":
                raise SelfTestError(f"expected to write the mirror, role is {runtime.status.role}")
            last = 0
            for i in range(LIVE_EVENTS):
                committed = await runtime.append({"type": "app/live", "payload": {"i": i}})
                last = int(committed["offset"])
            await _wait_for(runtime, "live tail", last)
            problem = await verify_against_server(runtime.reader, client, through=last)
            if problem is not None:
                raise SelfTestError(f"the mirror differs from the server: {problem}")
            if runtime.reader.feed_count() == 0:
                raise SelfTestError("the event feed is empty")
            return last
        finally:
            runtime.release()
            await registry.aclose()
