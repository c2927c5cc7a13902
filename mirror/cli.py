"""Headless verbs: ``streamdesk mirror | tail | append | query | mirrors`` (and, from
``mirror.cli_control``, ``kill | reset``).

``add_commands(subparsers)`` registers them on the ``streamdesk`` parser (app/cli.py); each
sets ``run(args) -> int`` (the exit code).

- ``mirror URL PATH [--namespace NS] [--token T] [--data-dir DIR] [--until-synced]
  [--keep-archives N]``: mirror the
  stream into the data directory (the same mirror the desktop app uses) with a progress bar on
  stderr while catching up, then keep tailing until Ctrl-C (or, with ``--until-synced``, exit
  0 once the mirror holds the server's current incarnation up to its head; a reset meanwhile
  means another round, and a runtime that stops dialling exits 1).
- ``tail URL PATH [--after N]``: print events as JSON lines on stdout (after offset N; default:
  only new events) until Ctrl-C.
- ``append URL PATH JSON``: append one event (a JSON object); prints the committed event.
  Invalid JSON is an error and nothing is sent.
- ``query MIRROR_FILE SQL [--json] [--max-rows N]``: run read-only SQL over a mirror file and
  print a table (or JSON lines); anything but a read is refused (exit 1) with one line,
  ``read-only: <statement kind> is not allowed`` (``mirror.sql_guard``).
- ``mirrors [--data-dir DIR] [--json]``: every local mirror and its archives
  (``mirror.cli_mirrors``).

Exit codes: 0 success (and Ctrl-C), 1 the server or the database said no (a refused token
included), 2 bad input (an invalid URL, stream path or JSON: nothing is created or sent).
``tail`` (``mirror.cli_tail``) resubscribes with the runtime's reconnect machinery
(``mirror.redial``, the ``mirror.backoff`` delays, the ``RuntimeTiming`` step deadline on each
call).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import apsw
import orjson

from mirror.archive import DEFAULT_KEEP_ARCHIVES
from mirror.cli_common import (
    EXIT_OK,
    EXIT_USAGE,
    TOKEN_HINT,
    add_stream_arguments,
    fail,
    namespace_of,
    quiet_http_logs,
    refusal,
    stream_arguments,
    token_of,
)
from mirror.cli_control import add_control_commands
from mirror.cli_mirrors import add_mirrors_command
from mirror.cli_processors import add_commands as add_processor_commands
from mirror.cli_search import add_search_command
from mirror.cli_tail import tail
from mirror.db_reads import MirrorReader
from mirror.paths import default_data_dir
from mirror.runtime import RuntimeRegistry
from mirror.runtime_status import RuntimeStatus, RuntimeTiming
from mirror.sql_guard import ReadOnlyRefused
from mirror.table import format_table
from wire.stream_client import StreamClient, StreamError

_BAR_WIDTH = 30
_PLAIN_PROGRESS_EVERY_S = 1.0


def add_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
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
    mirror.add_argument(
        "--keep-archives",
        type=int,
        default=DEFAULT_KEEP_ARCHIVES,
        metavar="N",
        help="after a reset, keep the newest N archived incarnations of the stream "
        f"(default {DEFAULT_KEEP_ARCHIVES})",
    )
    mirror.set_defaults(run=mirror_command)

    tail = subparsers.add_parser(
        "tail", help="print a stream's events as JSON lines", description="Follow a stream."
    )
    add_stream_arguments(tail)
    tail.add_argument(
        "--after",
        type=int,
        default=None,
        metavar="N",
        help="start after offset N (0 = from the beginning; default: only new events)",
    )
    tail.set_defaults(run=tail_command)

    append = subparsers.add_parser(
        "append", help="append one event", description="Append one event (a JSON object)."
    )
    add_stream_arguments(append)
    append.add_argument("event", metavar="JSON", help='the event, e.g. \'{"type": "note"}\'')
    append.set_defaults(run=append_command)

    query = subparsers.add_parser(
        "query",
        help="run read-only SQL over a mirror file",
        description="Run read-only SQL over a mirror file; writes are refused.",
    )
    query.add_argument("mirror_file", metavar="MIRROR_FILE", type=Path)
    query.add_argument("sql", metavar="SQL")
    query.add_argument("--json", action="store_true", help="print one JSON object per row")
    query.add_argument("--max-rows", type=int, default=1000, help="rows to print (default 1000)")
    query.set_defaults(run=query_command)

    add_control_commands(subparsers)
    add_mirrors_command(subparsers)
    add_search_command(subparsers)
    add_processor_commands(subparsers)


def _run_until_interrupted(main: Callable[[asyncio.Event], Any]) -> int:
    """Run ``main(stop)`` on a fresh loop; Ctrl-C (or SIGTERM) sets ``stop`` for a clean exit."""

    quiet_http_logs()

    async def runner() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        result: int = await main(stop)
        return result

    try:
        return asyncio.run(runner())
    except KeyboardInterrupt:  # platforms without loop signal handlers
        return EXIT_OK


# -- mirror ---------------------------------------------------------------------------------------


class ProgressPrinter:
    """Status changes as lines on ``stream``; catch-up as a bar (a tty) or a line per second."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._shown: tuple[str, str, str | None, str | None] | None = None
        self._bar_open = False
        self._last_plain = 0.0

    def update(self, status: RuntimeStatus) -> None:
        if status.catchup is not None:
            self._progress(status)
            return
        shown = (status.connection, status.role, status.last_error, status.notice)
        if shown == self._shown:
            return
        self._shown = shown
        text = f"{status.connection} ({status.role}): {status.event_count:,} events"
        if status.last_error:
            text += f"; last error: {status.last_error}"
        if status.notice:
            text += f"; {status.notice}"
        self._line(text)

    def _progress(self, status: RuntimeStatus) -> None:
        progress = status.catchup
        assert progress is not None
        total = max(progress.total, 1)
        fraction = min(progress.done / total, 1.0)
        filled = int(fraction * _BAR_WIDTH)
        text = (
            f"catching up [{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {fraction:6.1%} "
            f"{progress.done:,} / {progress.total:,} events · {progress.rate:,.0f} ev/s"
        )
        if self.tty:
            self.stream.write(f"\r{text}\x1b[K")
            self.stream.flush()
            self._bar_open = True
        elif time.monotonic() - self._last_plain >= _PLAIN_PROGRESS_EVERY_S:
            self._last_plain = time.monotonic()
            self._line(text)

    def _line(self, text: str) -> None:
        if self._bar_open:
            self.stream.write("\n")
            self._bar_open = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self._bar_open:
            self.stream.write("\n")
            self.stream.flush()
            self._bar_open = False


def mirror_command(args: argparse.Namespace) -> int:
    stream = stream_arguments(args)
    if isinstance(stream, str):
        return fail(stream, EXIT_USAGE)
    if args.keep_archives < 0:
        return fail("--keep-archives must be 0 or more", EXIT_USAGE)
    data_dir = Path(getattr(args, "data_dir", None) or default_data_dir()).expanduser()
    return _run_until_interrupted(lambda stop: _mirror(args, stream, data_dir, stop))


async def _mirror(
    args: argparse.Namespace, stream: tuple[str, str], data_dir: Path, stop: asyncio.Event
) -> int:
    url, path = stream
    registry = RuntimeRegistry(data_dir, keep_archives=args.keep_archives)
    runtime = registry.acquire(url, namespace_of(args), path, token=token_of(args))
    printer = ProgressPrinter(sys.stderr)
    print(f"mirroring {url} {runtime.namespace}:{runtime.path}", file=sys.stderr)
    print(f"mirror file: {runtime.mirror_file}", file=sys.stderr)
    refused: list[str] = []

    def on_status(status: RuntimeStatus) -> None:
        printer.update(status)
        if status.connection == "unauthorized":
            # The runtime stops dialling; a headless run has nobody to fix the token.
            refused.append(f"{status.last_error}; {TOKEN_HINT}")
            stop.set()
        elif status.connection == "failed":
            refused.append(f"mirroring stopped: {status.last_error}")
            stop.set()

    async def synced() -> None:
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

    runtime.add_listener(on_status)
    runtime.retain()
    waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(stop.wait())}
    if args.until_synced:
        waiters.add(asyncio.ensure_future(synced()))
    try:
        done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in pending:
            waiter.cancel()
        for waiter in done:
            waiter.result()
    except StreamError as error:
        refused.append(refusal(error))
    finally:
        runtime.release()
        await registry.aclose()
        printer.finish()
    if refused:
        return fail(refused[0])
    print(f"stopped; the mirror holds {runtime.status.event_count:,} events", file=sys.stderr)
    return EXIT_OK


def _holds_head(incarnation: str, head: int, status: RuntimeStatus) -> bool:
    return status.incarnation == incarnation and status.event_count >= head


def _head_or_dropped(incarnation: str, head: int, status: RuntimeStatus) -> bool:
    return _holds_head(incarnation, head, status) or status.connection != "subscribed"


# -- tail -----------------------------------------------------------------------------------------


def tail_command(args: argparse.Namespace) -> int:
    stream = stream_arguments(args)
    if isinstance(stream, str):
        return fail(stream, EXIT_USAGE)
    return _run_until_interrupted(lambda stop: _tail(args, stream, stop))


async def _tail(args: argparse.Namespace, stream: tuple[str, str], stop: asyncio.Event) -> int:
    url, path = stream
    client = StreamClient(url, path, namespace_of(args), token_of(args))
    try:
        return await tail(client, args.after, stop, deadline=RuntimeTiming().step_deadline)
    finally:
        await client.aclose()


# -- append ---------------------------------------------------------------------------------------


def append_command(args: argparse.Namespace) -> int:
    quiet_http_logs()
    stream = stream_arguments(args)
    if isinstance(stream, str):
        return fail(f"{stream}; nothing was sent", EXIT_USAGE)
    url, path = stream
    try:
        event = orjson.loads(args.event)
    except orjson.JSONDecodeError as error:
        return fail(f"invalid JSON, nothing was sent: {error}", EXIT_USAGE)
    if not isinstance(event, dict):
        return fail("the event must be a JSON object, nothing was sent", EXIT_USAGE)

    async def append() -> Any:
        async with StreamClient(url, path, namespace_of(args), token_of(args)) as client:
            return await client.append(event)

    try:
        committed = asyncio.run(append())
    except StreamError as error:
        return fail(f"append failed: {refusal(error)}")
    print(orjson.dumps(committed).decode())
    return EXIT_OK


# -- query ----------------------------------------------------------------------------------------


def query_command(args: argparse.Namespace) -> int:
    file: Path = args.mirror_file.expanduser()
    if not file.is_file():
        return fail(f"no mirror file at {file}", EXIT_USAGE)
    if args.max_rows < 1:
        return fail("--max-rows must be at least 1", EXIT_USAGE)
    try:
        reader = MirrorReader(file)
    except apsw.Error as error:
        return fail(f"cannot open {file}: {error}")
    try:
        columns, rows = reader.query_readonly(args.sql, args.max_rows + 1)
    except ReadOnlyRefused as error:
        return fail(str(error))
    except apsw.ReadOnlyError as error:
        return fail(f"the mirror is opened read-only; this statement would change it ({error})")
    except apsw.Error as error:
        return fail(f"SQL error: {error}")
    finally:
        reader.close()
    truncated = len(rows) > args.max_rows
    rows = rows[: args.max_rows]
    try:
        if args.json:
            for row in rows:
                record = dict(zip(columns, row, strict=False))
                print(orjson.dumps(record, default=_json_value).decode())
        else:
            print(format_table(columns, rows))
    except BrokenPipeError:
        return EXIT_OK
    if truncated:
        print(f"(showing the first {args.max_rows} rows)", file=sys.stderr)
    return EXIT_OK


def _json_value(value: object) -> object:
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot print {type(value).__name__}")
