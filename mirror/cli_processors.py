"""Headless verbs for processors and load: ``streamdesk processor run`` and ``streamdesk
generate`` (registered by one call in ``mirror.cli``).

- ``processor run module:Class URL PATH [--checkpoints FILE] [--key KEY] [--outbound
  [--listen HOST:PORT]]``: host a user's ``StreamProcessor`` subclass on the stream, its
  checkpoint in a local SQLite file (default ``<data dir>/processors/checkpoints.sqlite3``).
  Inbound (default): the processor subscribes from its checkpoint and re-subscribes after
  failures. ``--outbound``: it listens on a Cap'n Web WebSocket URL and appends
  ``subscription-configured`` naming that URL, so the stream dials it (and re-dials it).
  Runs until Ctrl-C.
- ``generate URL PATH --count N --seconds S --batch B [--seed X]``: append N random events
  (``mirror.event_generator``) in batches of B spread over S seconds; progress on stderr;
  Ctrl-C stops after the batch in flight.

Exit codes as in ``mirror.cli``: 0 done (and Ctrl-C), 1 refused or unreachable, 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import signal
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mirror.cli_common import (
    EXIT_OK,
    EXIT_USAGE,
    add_stream_arguments,
    fail,
    namespace_of,
    quiet_http_logs,
    refusal,
    stream_arguments,
    token_of,
)
from mirror.event_generator import plan_batches, random_batch
from mirror.hosting.checkpoints import CheckpointFile
from mirror.hosting.config import websocket_subscription
from mirror.hosting.inbound import run_inbound
from mirror.hosting.listener import listen
from mirror.hosting.loading import ProcessorLoadError, load_processor_class
from mirror.hosting.runner import ProcessorRunner
from mirror.paths import default_data_dir
from wire.stream_client import StreamClient, StreamError

logger = logging.getLogger(__name__)


def add_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    processor = subparsers.add_parser("processor", help="host your own stream processor")
    verbs = processor.add_subparsers(dest="processor_command", metavar="VERB", required=True)
    run = verbs.add_parser(
        "run",
        help="run a StreamProcessor subclass on a stream",
        description="Host module:Class on the stream with a durable local checkpoint.",
    )
    run.add_argument("spec", metavar="module:Class", help="the processor class to host")
    add_stream_arguments(run)
    run.add_argument("--checkpoints", type=Path, help="checkpoint SQLite file")
    run.add_argument("--key", help="subscription key (default: processor:<slug>)")
    run.add_argument("--outbound", action="store_true", help="let the stream dial this processor")
    run.add_argument(
        "--listen", default="127.0.0.1:0", metavar="HOST:PORT", help="--outbound address"
    )
    run.set_defaults(run=run_processor_command)

    generate = subparsers.add_parser(
        "generate", help="append random events", description="Append random events in batches."
    )
    add_stream_arguments(generate)
    generate.add_argument("--count", type=int, default=1000, help="events (default 1000)")
    generate.add_argument("--seconds", type=float, default=5.0, help="spread (default 5)")
    generate.add_argument("--batch", type=int, default=100, help="batch size (default 100)")
    generate.add_argument("--seed", type=int, help="random seed (repeatable runs)")
    generate.set_defaults(run=generate_command)


# --- processor run --------------------------------------------------------------------------


def run_processor_command(args: argparse.Namespace) -> int:
    checked = stream_arguments(args)
    if isinstance(checked, str):
        return fail(checked, EXIT_USAGE)
    try:
        processor_class = load_processor_class(args.spec)
    except ProcessorLoadError as exc:
        return fail(str(exc), EXIT_USAGE)
    host, _, port = args.listen.rpartition(":")
    if args.outbound and (not host or not port.isdigit()):
        return fail(f"--listen must be HOST:PORT, got {args.listen!r}", EXIT_USAGE)
    quiet_http_logs()
    checkpoint_path = args.checkpoints or default_data_dir() / "processors" / "checkpoints.sqlite3"
    key = args.key or f"processor:{processor_class.slug}"
    url, path = checked
    client = StreamClient(url, path, namespace_of(args), token=token_of(args))
    checkpoints = CheckpointFile(checkpoint_path)

    async def main() -> int:
        with _stop_on_signals() as stop:
            try:
                if args.outbound:
                    runner = ProcessorRunner(
                        {processor_class.slug: processor_class},
                        checkpoints,
                        default_processor=processor_class.slug,
                    )
                    listener = await listen(runner, host.strip("[]"), int(port))
                    print(
                        f"processor {processor_class.slug} listening on {listener.url}",
                        file=sys.stderr,
                        flush=True,
                    )
                    try:
                        await client.append(
                            websocket_subscription(listener.url, key, processor_class.slug)
                        )
                        await stop.wait()
                    finally:
                        await listener.close()
                else:
                    print(
                        f"processor {processor_class.slug} subscribing as {key}",
                        file=sys.stderr,
                        flush=True,
                    )
                    await run_inbound(
                        lambda storage: processor_class(storage=storage, subscription_key=key),
                        client,
                        checkpoints,
                        stop,
                        subscription_key=key,
                    )
            except StreamError as exc:
                return fail(refusal(exc))
            finally:
                await client.aclose()
                checkpoints.close()
        return EXIT_OK

    return asyncio.run(main())


# --- generate -------------------------------------------------------------------------------


def generate_command(args: argparse.Namespace) -> int:
    checked = stream_arguments(args)
    if isinstance(checked, str):
        return fail(checked, EXIT_USAGE)
    try:
        plan = plan_batches(args.count, args.batch, args.seconds)
    except ValueError as exc:
        return fail(str(exc), EXIT_USAGE)
    quiet_http_logs()
    url, path = checked
    rng = random.Random(args.seed)

    async def main() -> int:
        sent = 0
        async with StreamClient(url, path, namespace_of(args), token=token_of(args)) as client:
            with _stop_on_signals() as stop:
                start = time.monotonic()
                for index in range(plan.batches):
                    due = start + plan.starts[index] - time.monotonic()
                    if due > 0:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), due)
                    if stop.is_set():
                        break
                    now = datetime.now(UTC).isoformat(timespec="milliseconds")
                    batch = random_batch(rng, plan, index, path, now.replace("+00:00", "Z"))
                    try:
                        await client.append_batch(batch)
                    except StreamError as exc:
                        print(f"generated {sent}/{plan.count} events", file=sys.stderr)
                        return fail(refusal(exc))
                    sent += len(batch)
                    print(
                        f"generated {sent}/{plan.count} events (batch {index + 1}/{plan.batches})",
                        file=sys.stderr,
                        flush=True,
                    )
        return EXIT_OK

    return asyncio.run(main())


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[asyncio.Event]:
    """An event set by SIGINT/SIGTERM while the block runs (Ctrl-C is a clean stop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        yield stop
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
