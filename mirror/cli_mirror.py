"""``streamdesk mirror``: mirror a stream into the data directory and keep it current.

``add_mirror_command(subparsers)`` registers ``mirror URL PATH [--namespace NS] [--token T]
[--data-dir DIR] [--until-synced] [--timeout SECONDS] [--status-json] [--keep-archives N]``.

- Catches up (``mirror.cli_progress`` on stderr), then keeps tailing until Ctrl-C.
- ``--until-synced``: exit 0 once the mirror holds the server's current incarnation up to its
  head (a reset meanwhile means another round).
- ``--timeout SECONDS``: give up (exit 1, one line saying why) after SECONDS without a working
  connection; the clock restarts whenever the connection is up (catching up or subscribed).
  Default: ``UNTIL_SYNCED_TIMEOUT_S`` with ``--until-synced``, else never (a monitor retries for
  ever). Each failed attempt is one line: what went wrong in words and the delay before the
  next (``mirror.cli_failure``), never the server's raw answer.
- ``--status-json``: one JSON object per status change on stdout (``status_record``).

A refused token or a runtime that stops dialling exits 1 at once.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from mirror.archive import DEFAULT_KEEP_ARCHIVES
from mirror.cli_common import (
    EXIT_OK,
    EXIT_USAGE,
    TOKEN_HINT,
    add_stream_arguments,
    add_timeout_argument,
    fail,
    namespace_of,
    refusal,
    run_until_interrupted,
    stream_arguments,
    token_of,
)
from mirror.cli_failure import plain_failure
from mirror.cli_progress import MirrorProgress
from mirror.connection_state import ConnectionState
from mirror.paths import default_data_dir
from mirror.runtime import RuntimeRegistry, StreamRuntime
from mirror.runtime_status import ReconnectRecord, RuntimeStatus
from wire.stream_client import StreamError

UNTIL_SYNCED_TIMEOUT_S = 30.0
_CONNECTED = frozenset(
    {ConnectionState.CATCHING_UP, ConnectionState.SUBSCRIBING, ConnectionState.SUBSCRIBED}
)


def add_mirror_command(subparsers: argparse._SubParsersAction[Any]) -> None:
    mirror = subparsers.add_parser(
        "mirror",
        help="mirror a stream into the local data directory and keep tailing it",
        description="Catch up (with a progress bar), then keep the mirror current until Ctrl-C.",
    )
    add_stream_arguments(mirror)
    # SUPPRESS: a value given to the main parser before the verb is kept.
    mirror.add_argument("--data-dir", default=argparse.SUPPRESS, help="Streamdesk data directory")
    mirror.add_argument(
        "--until-synced",
        action="store_true",
        help="exit once the mirror holds the server's current incarnation up to its head",
    )
    add_timeout_argument(
        mirror, f"default: {UNTIL_SYNCED_TIMEOUT_S:g} with --until-synced, else retry for ever"
    )
    mirror.add_argument(
        "--status-json",
        action="store_true",
        help="print one JSON object per status change on stdout (connection, role, events, "
        "max_offset, incarnation, notice, last_error, catchup)",
    )
    mirror.add_argument(
        "--keep-archives",
        type=int,
        default=DEFAULT_KEEP_ARCHIVES,
        metavar="N",
        help="after a reset, keep the newest N archived incarnations of the stream "
        f"(default {DEFAULT_KEEP_ARCHIVES})",
    )
    mirror.set_defaults(run=mirror_command)


def mirror_command(args: argparse.Namespace) -> int:
    stream = stream_arguments(args)
    if isinstance(stream, str):
        return fail(stream, EXIT_USAGE)
    if args.keep_archives < 0:
        return fail("--keep-archives must be 0 or more", EXIT_USAGE)
    if args.timeout is None and args.until_synced:
        args.timeout = UNTIL_SYNCED_TIMEOUT_S
    data_dir = Path(getattr(args, "data_dir", None) or default_data_dir()).expanduser()
    return run_until_interrupted(args, lambda stop: _mirror(args, stream, data_dir, stop))


def status_record(status: RuntimeStatus, server: str) -> dict[str, Any]:
    """What ``--status-json`` prints for ``status``; ``last_error`` in words, on one line."""
    catchup = status.catchup
    return {
        "connection": str(status.connection),
        "role": str(status.role),
        "events": status.event_count,
        "max_offset": status.max_offset,
        "incarnation": status.incarnation,
        "notice": status.notice,
        "last_error": plain_failure(status.last_error, server) if status.last_error else None,
        "catchup": None
        if catchup is None
        else {"done": catchup.done, "total": catchup.total, "rate": round(catchup.rate, 1)},
    }


class _StatusJson:
    """One line per change on stdout; a reader that goes away ends the verb quietly."""

    def __init__(self, server: str, stop: asyncio.Event) -> None:
        self.server = server
        self.stop = stop
        self._last: bytes | None = None

    def update(self, status: RuntimeStatus) -> None:
        line = orjson.dumps(status_record(status, self.server))
        if line == self._last or self.stop.is_set():
            return
        self._last = line
        try:
            sys.stdout.write(line.decode() + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            self.stop.set()


async def _mirror(
    args: argparse.Namespace, stream: tuple[str, str], data_dir: Path, stop: asyncio.Event
) -> int:
    url, path = stream
    registry = RuntimeRegistry(data_dir, keep_archives=args.keep_archives)
    runtime = registry.acquire(url, namespace_of(args), path, token=token_of(args))
    printer = MirrorProgress(sys.stderr, describe=partial(plain_failure, server=url))
    status_json = _StatusJson(url, stop) if args.status_json else None
    printer.line(f"mirroring {url} {runtime.namespace}:{runtime.path}")
    printer.line(f"mirror file: {runtime.mirror_file}")
    refused: list[str] = []

    def on_status(status: RuntimeStatus) -> None:
        printer.update(status, _retry(runtime, status))
        if status_json is not None:
            status_json.update(status)
        if status.connection == "unauthorized":
            # The runtime stops dialling; a headless run has nobody to fix the token.
            refused.append(f"{status.last_error}; {TOKEN_HINT}")
            stop.set()
        elif status.connection == "failed":
            refused.append(f"mirroring stopped: {status.last_error}")
            stop.set()

    runtime.add_listener(on_status)
    runtime.retain()
    waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(stop.wait())}
    if args.until_synced:
        waiters.add(asyncio.ensure_future(_synced(runtime)))
    if args.timeout is not None:
        waiters.add(asyncio.ensure_future(_connection_lost_for(runtime, args.timeout, url)))
    try:
        done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in pending:
            waiter.cancel()
        for waiter in done:
            if isinstance(gave_up := waiter.result(), str):
                refused.append(gave_up)
    except StreamError as error:
        refused.append(refusal(error))
    finally:
        runtime.release()
        await registry.aclose()
        printer.finish()
    if refused:
        return fail(refused[0])
    printer.line(f"stopped; the mirror holds {runtime.status.event_count:,} events")
    return EXIT_OK


def _retry(runtime: StreamRuntime, status: RuntimeStatus) -> ReconnectRecord | None:
    """The reconnect that put ``status`` in ``reconnecting`` (its wait is the delay shown)."""
    if status.connection != "reconnecting" or not runtime.reconnect_history:
        return None
    return runtime.reconnect_history[-1]


async def _synced(runtime: StreamRuntime) -> None:
    """Until the mirror holds the server's current incarnation up to its head."""
    while True:
        await runtime.wait_until(lambda status: status.connection == "subscribed")
        core = (await runtime.runtime_state())["coreProcessorState"]
        target, created_at = int(core["maxOffset"]), core["createdAt"]

        status = await runtime.wait_until(partial(_head_or_dropped, created_at, target))
        if not _holds_head(created_at, target, status):
            continue
        # Still the server's incarnation now that the mirror got there (a reset meanwhile
        # means another round).
        core = (await runtime.runtime_state())["coreProcessorState"]
        if core["createdAt"] == runtime.status.incarnation:
            return


async def _connection_lost_for(runtime: StreamRuntime, seconds: float, url: str) -> str:
    """Returns (the message to fail with) once the connection has been down ``seconds``."""
    while True:
        await runtime.wait_until(lambda status: status.connection not in _CONNECTED)
        try:
            async with asyncio.timeout(seconds):
                await runtime.wait_until(lambda status: status.connection in _CONNECTED)
        except TimeoutError:
            error = runtime.status.last_error
            why = f": {plain_failure(error, url)}" if error else ""
            return f"gave up after {seconds:g} s without a connection to {url}{why}"


def _holds_head(incarnation: str, head: int, status: RuntimeStatus) -> bool:
    return status.incarnation == incarnation and status.event_count >= head


def _head_or_dropped(incarnation: str, head: int, status: RuntimeStatus) -> bool:
    return _holds_head(incarnation, head, status) or status.connection != "subscribed"
