"""Headless verbs: ``streamdesk mirror | tail | append | query | mirrors | search | kill |
reset | processor``, each in its own module; this one registers them and holds ``tail`` and
``query``.

``add_commands(subparsers)`` registers them on the ``streamdesk`` parser (app/cli.py); each
sets ``run(args) -> int`` (the exit code).

- ``mirror`` (``mirror.cli_mirror``), ``append`` (``mirror.cli_append``), ``mirrors``
  (``mirror.cli_mirrors``), ``search`` (``mirror.cli_search``), ``kill`` and ``reset``
  (``mirror.cli_control``), ``processor run`` and ``generate`` (``mirror.cli_processors``).
- ``tail URL PATH [--after N] [--timeout SECONDS]``: print events as JSON lines on stdout
  (after offset N; default: only new events) until Ctrl-C; a failed dial, a close or a failed
  liveness probe is one line on stderr with the delay before the next dial; a reset stream is
  one line too, then its new incarnation from offset 1; ``--timeout``: exit 1 after SECONDS
  without a subscription.
- ``query MIRROR_FILE SQL [--json] [--max-rows N]``: run read-only SQL over a mirror file and
  print a table (or JSON lines); anything but a read is refused (exit 1) with one line,
  ``read-only: <statement kind> is not allowed`` (``mirror.sql_guard``).

Exit codes: 0 success (and Ctrl-C), 1 the server or the database said no (a refused token
included) or a ``--timeout`` ran out, 2 bad input (an invalid URL, stream path or JSON: nothing
is created or sent). ``tail`` (``mirror.cli_tail``) follows the stream with the runtime's own
connection (``mirror.connection``: step deadlines, incarnation checks, liveness probe) and
reconnect machinery (``mirror.redial``, the ``mirror.backoff`` delays).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import apsw
import orjson

from mirror.cli_append import add_append_command
from mirror.cli_common import (
    EXIT_OK,
    EXIT_USAGE,
    add_stream_arguments,
    add_timeout_argument,
    fail,
    namespace_of,
    run_until_interrupted,
    stream_arguments,
    token_of,
)
from mirror.cli_control import add_control_commands
from mirror.cli_mirror import add_mirror_command
from mirror.cli_mirrors import add_mirrors_command
from mirror.cli_processors import add_commands as add_processor_commands
from mirror.cli_search import add_search_command
from mirror.cli_tail import tail
from mirror.db_reads import MirrorReader
from mirror.runtime_status import RuntimeTiming
from mirror.sql_guard import ReadOnlyRefused
from mirror.table import format_table, terminal_width
from wire.stream_client import StreamClient


def add_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    add_mirror_command(subparsers)
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
    add_timeout_argument(tail, "default: retry for ever")
    tail.set_defaults(run=tail_command)

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

    add_append_command(subparsers)
    add_control_commands(subparsers)
    add_mirrors_command(subparsers)
    add_search_command(subparsers)
    add_processor_commands(subparsers)


# -- tail -----------------------------------------------------------------------------------------


def tail_command(args: argparse.Namespace) -> int:
    stream = stream_arguments(args)
    if isinstance(stream, str):
        return fail(stream, EXIT_USAGE)
    return run_until_interrupted(args, lambda stop: _tail(args, stream, stop))


async def _tail(args: argparse.Namespace, stream: tuple[str, str], stop: asyncio.Event) -> int:
    url, path = stream
    client = StreamClient(url, path, namespace_of(args), token_of(args))
    try:
        return await tail(client, args.after, stop, timing=RuntimeTiming(), give_up=args.timeout)
    finally:
        await client.aclose()


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
            print(format_table(columns, rows, width=terminal_width(sys.stdout)))
    except BrokenPipeError:
        return EXIT_OK
    if truncated:
        print(f"(showing the first {args.max_rows} rows)", file=sys.stderr)
    return EXIT_OK


def _json_value(value: object) -> object:
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot print {type(value).__name__}")
