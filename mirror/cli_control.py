"""Headless control verbs: ``streamdesk kill | reset``.

``add_control_commands(subparsers)`` registers them (``mirror.cli.add_commands`` calls it); each
sets ``run(args) -> int``.

- ``kill URL PATH [--namespace NS] [--token T]``: drop the live stream instance on the server;
  the next request wakes it (a new ``woken`` event). Nothing is deleted.
- ``reset URL PATH --yes [--namespace NS] [--token T]``: delete every event of the stream on the
  server; it starts again at offset 1. Without ``--yes`` nothing is sent.

Exit codes as the other verbs: 0 done (also when the server answers ``kill requested``, as
iterate's does), 1 the server refused or could not be reached (one line on stderr), 2 bad input
(an invalid URL or stream path, or reset without ``--yes``: nothing is sent).
"""

from __future__ import annotations

import argparse
import asyncio
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
from wire.stream_client import StreamClient, StreamError


def add_control_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    kill = subparsers.add_parser(
        "kill",
        help="drop a stream's live instance on the server (it wakes on the next request)",
        description="Kill the stream's live instance; its events are kept.",
    )
    add_stream_arguments(kill)
    kill.set_defaults(run=kill_command)

    reset = subparsers.add_parser(
        "reset",
        help="delete every event of a stream on the server (needs --yes)",
        description="Delete all of the stream's storage; it starts again at offset 1.",
    )
    add_stream_arguments(reset)
    reset.add_argument(
        "--yes", action="store_true", help="confirm: every event of the stream is deleted"
    )
    reset.set_defaults(run=reset_command)


def kill_command(args: argparse.Namespace) -> int:
    return _control(args, "kill")


def reset_command(args: argparse.Namespace) -> int:
    if not args.yes:
        return fail(
            "reset deletes every event of the stream on the server; add --yes to do it "
            "(nothing was sent)",
            EXIT_USAGE,
        )
    return _control(args, "reset")


def _control(args: argparse.Namespace, method: str) -> int:
    quiet_http_logs()
    stream = stream_arguments(args)
    if isinstance(stream, str):
        return fail(f"{stream}; nothing was sent", EXIT_USAGE)
    url, path = stream
    where = f"{namespace_of(args)}:{path} at {url}"

    async def call() -> None:
        async with StreamClient(url, path, namespace_of(args), token_of(args)) as client:
            await (client.kill() if method == "kill" else client.reset())

    try:
        asyncio.run(call())
    except StreamError as error:
        return fail(f"{method} failed: {refusal(error)}")
    print(f"{method}: done for {where}")
    return EXIT_OK
