"""Processor benchmark: how many events/s the hosted echo processor sustains (delivery ->
`output-echoed` appended back), next to the server's own append rate, measured in one run.

    .venv/bin/python bench/processors.py [--events 5000] [--batch 100]

The embedded server runs in a background thread of this process with the built-in runner bound
in-process (as the desktop app runs it); the client appends over HTTP batch from the main
thread. Three phases on fresh streams: appends alone; the same appends with `echo-example`
configured (time until the last output is in the log); and single-event appends with echo.
"""

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from mirror.builtin_processors import builtin_bindings
from mirror.builtin_processors.echo import INPUT, OUTPUT
from mirror.hosting.config import runner_subscription
from server.run import EmbeddedServer
from wire.stream_client import StreamClient


def inputs(count: int) -> list[dict[str, Any]]:
    return [{"type": INPUT, "payload": {"n": n}} for n in range(count)]


async def append_all(client: StreamClient, count: int, batch: int) -> float:
    events = inputs(count)
    start = time.perf_counter()
    for first in range(0, count, batch):
        await client.append_batch(events[first : first + batch])
    return time.perf_counter() - start


async def wait_outputs(client: StreamClient, count: int, after: int) -> None:
    seen, cursor = 0, after
    while seen < count:
        page = await client.get_events(after_offset=cursor, limit=1000)
        if not page:
            await asyncio.sleep(0.005)
            continue
        cursor = page[-1]["offset"]
        seen += sum(1 for e in page if e["type"] == OUTPUT)


async def echo_phase(url: str, path: str, count: int, batch: int) -> tuple[float, float]:
    """(seconds to append, seconds until the last output) with echo configured."""
    async with StreamClient(url, path) as client:
        configured = await client.append(runner_subscription("echo-example", "echo"))
        # Let the stream dial the runner before timing.
        await client.append({"type": INPUT, "payload": {"warmup": True}})
        await wait_outputs(client, 1, configured["offset"])
        head = (await client.runtime_state())["coreProcessorState"]["maxOffset"]
        start = time.perf_counter()
        appended = await append_all(client, count, batch)
        await wait_outputs(client, count, head)
        return appended, time.perf_counter() - start


async def run(url: str, count: int, batch: int) -> None:
    async with StreamClient(url, "/bench/appends") as client:
        alone = await append_all(client, count, batch)
    echo_append, echo_total = await echo_phase(url, "/bench/echo", count, batch)
    singles = max(count // 10, 1)
    single_append, single_total = await echo_phase(url, "/bench/echo-single", singles, 1)
    print(f"events: {count}, batch {batch}")
    print(f"appends alone:             {count / alone:10.0f} events/s")
    print(f"appends with echo:         {count / echo_append:10.0f} events/s")
    print(f"echo delivery->side effect {count / echo_total:10.0f} events/s")
    print(f"  ratio echo / appends alone: {alone / echo_total:.2f}")
    print(
        f"single appends ({singles}) with echo: {singles / single_append:8.0f} events/s, "
        f"echo keeps up at {singles / single_total:.0f} events/s "
        f"(ratio {single_append / single_total:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bindings = builtin_bindings(root / "checkpoints.sqlite3")
        with EmbeddedServer(root / "server", bindings=bindings) as server:
            asyncio.run(run(server.url, args.events, args.batch))


if __name__ == "__main__":
    main()
