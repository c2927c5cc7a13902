"""``streamdesk append URL PATH (JSON | - | @FILE)``: append events (headless verb).

``add_append_command(subparsers)`` registers it (``mirror.cli.add_commands`` calls it).

- ``JSON``: one event as the argument; prints the committed event on stdout.
- ``@FILE``: one JSON object, or JSON Lines, from a file. Every line is checked before anything
  is sent: a bad line is reported by number (exit 2) and nothing is sent.
- ``-``: the same from stdin, streamed: complete lines are sent as they arrive, so
  ``tail ... | append ...`` works. At the first bad line it stops (exit 2): the lines before it
  were appended (it says how many), nothing from it on is sent.

Events go in ``appendBatch`` calls of at most ``BATCH_EVENTS`` events and ``BATCH_BYTES`` bytes
of JSON, one after the other (the stream keeps their order); the next batch is read and
decoded while one is in flight. The summary (events appended, offsets) goes to stderr.
A batch the server refuses is not appended (appendBatch is all-or-nothing); the verb stops
there (exit 1) and says how many events went in before it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from mirror.append_input import BadInput, Decoded, Event, EventDecoder, decode_all
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

BATCH_EVENTS = 1000
# Well under the server's 32 MiB message limit, with room for the encoding.
BATCH_BYTES = 8 * 1024 * 1024
_READ_BYTES = 1024 * 1024
_CHUNKS_AHEAD = 8


def add_append_command(subparsers: argparse._SubParsersAction[Any]) -> None:
    append = subparsers.add_parser(
        "append",
        help="append events: one JSON argument, or JSON Lines from stdin (-) or @FILE",
        description="Append one event (a JSON object), or JSON Lines from stdin (-) or a file "
        f"(@FILE), in batches of up to {BATCH_EVENTS}.",
    )
    add_stream_arguments(append)
    append.add_argument(
        "event",
        metavar="JSON|-|@FILE",
        help='the event, e.g. \'{"type": "note"}\'; - reads stdin, @FILE a file '
        "(one JSON object, or one per line)",
    )
    append.set_defaults(run=append_command)


def append_command(args: argparse.Namespace) -> int:
    quiet_http_logs()
    stream = stream_arguments(args)
    if isinstance(stream, str):
        return fail(f"{stream}; nothing was sent", EXIT_USAGE)
    client = StreamClient(stream[0], stream[1], namespace_of(args), token_of(args))
    source: str = args.event
    if source == "-":
        return asyncio.run(_append_stdin(client))
    if source.startswith("@"):
        return _append_file(client, Path(source[1:]).expanduser())
    return _append_argument(client, source)


def _append_argument(client: StreamClient, text: str) -> int:
    try:
        event = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        return fail(f"invalid JSON, nothing was sent: {error}", EXIT_USAGE)
    if not isinstance(event, dict):
        return fail("the event must be a JSON object, nothing was sent", EXIT_USAGE)

    async def append() -> Any:
        async with client:
            return await client.append(event)

    try:
        committed = asyncio.run(append())
    except StreamError as error:
        return fail(f"append failed: {refusal(error)}")
    print(orjson.dumps(committed).decode())
    return EXIT_OK


def _append_file(client: StreamClient, file: Path) -> int:
    try:
        events = decode_all(file.read_bytes())
    except OSError as error:
        return fail(f"cannot read {file}: {error.strerror or error}; nothing was sent", EXIT_USAGE)
    except BadInput as error:
        return fail(f"{file} {error}; nothing was sent", EXIT_USAGE)

    async def batches() -> AsyncIterator[list[Event]]:
        for start in range(0, len(events), BATCH_EVENTS):
            yield events[start : start + BATCH_EVENTS]

    outcome = _Outcome()
    code = asyncio.run(_send(client, batches(), outcome))
    return _summary(client, outcome) if code == EXIT_OK else code


@dataclass(slots=True)
class _Pending:
    """Decoded events not sent yet, cut into batches by count and size."""

    events: list[Event] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)

    def add(self, decoded: Decoded) -> None:
        self.events.extend(decoded.events)
        self.sizes.extend(decoded.sizes)

    def take(self, *, partial: bool) -> Iterable[list[Event]]:
        while self.events:
            count, size = 0, 0
            while count < min(len(self.events), BATCH_EVENTS):
                size += self.sizes[count]
                if count and size > BATCH_BYTES:
                    break
                count += 1
            if count == len(self.events) and count < BATCH_EVENTS and not partial:
                return
            batch, self.events = self.events[:count], self.events[count:]
            del self.sizes[:count]
            yield batch


@dataclass(slots=True)
class _Outcome:
    appended: int = 0
    first: int | None = None
    last: int | None = None
    bad_line: BadInput | None = None


async def _append_stdin(client: StreamClient) -> int:
    outcome = _Outcome()
    code = await _send(client, _stdin_batches(outcome), outcome)
    if code != EXIT_OK:
        return code
    if outcome.bad_line is not None:
        return fail(
            f"stdin {outcome.bad_line}; stopped there: {_appended(outcome)} from the lines "
            "before it, nothing after it was sent",
            EXIT_USAGE,
        )
    return _summary(client, outcome)


async def _stdin_batches(outcome: _Outcome) -> AsyncIterator[list[Event]]:
    chunks = _read_in_thread(sys.stdin.buffer.fileno())
    decoder, pending = EventDecoder(), _Pending()
    while True:
        chunk = await chunks.get()
        decoded = decoder.feed(chunk) if chunk else decoder.finish()
        pending.add(decoded)
        # A partial batch goes out when no more input is waiting, so a slow writer's events
        # are not held back to fill a batch.
        flush = not chunk or decoded.error is not None or chunks.empty()
        for batch in pending.take(partial=flush):
            yield batch
        if decoded.error is not None:
            outcome.bad_line = decoded.error
            return
        if not chunk:
            return


def _read_in_thread(fd: int) -> asyncio.Queue[bytes]:
    """Chunks of ``fd`` as they arrive (b"" at the end), read by a daemon thread so a stdin that
    never closes cannot hold the process at exit; a bounded queue holds the reader back."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue(_CHUNKS_AHEAD)

    def read() -> None:
        while True:
            try:
                chunk = os.read(fd, _READ_BYTES)
            except OSError:
                chunk = b""
            try:
                asyncio.run_coroutine_threadsafe(queue.put(chunk), loop).result()
            except RuntimeError:  # the loop is gone: the verb has finished
                return
            if not chunk:
                return

    threading.Thread(target=read, name="stdin reader", daemon=True).start()
    return queue


async def _send(client: StreamClient, batches: AsyncIterator[list[Event]], done: _Outcome) -> int:
    """Each batch in order; the next one is decoded while the previous one is in flight."""
    in_flight: asyncio.Task[list[Any]] | None = None
    try:
        async with client:
            async for batch in batches:
                if in_flight is not None:
                    _count(done, await in_flight)
                in_flight = asyncio.ensure_future(client.append_batch(batch))
            if in_flight is not None:
                _count(done, await in_flight)
    except StreamError as error:
        return fail(
            f"append failed: {refusal(error)}; {_appended(done)} before it, "
            "the refused batch and everything after it were not"
        )
    finally:
        if in_flight is not None and not in_flight.done():
            in_flight.cancel()
    return EXIT_OK


def _summary(client: StreamClient, outcome: _Outcome) -> int:
    where = f"{client.namespace}:{client.path}"
    offsets = (
        ""
        if outcome.first is None
        else f" (offset {outcome.first})"
        if outcome.first == outcome.last
        else f" (offsets {outcome.first}-{outcome.last})"
    )
    print(f"{_appended(outcome)} to {where}{offsets}", file=sys.stderr)
    return EXIT_OK


def _count(outcome: _Outcome, committed: list[Any]) -> None:
    outcome.appended += len(committed)
    if committed:
        if outcome.first is None:
            outcome.first = committed[0].get("offset")
        outcome.last = committed[-1].get("offset")


def _appended(outcome: _Outcome) -> str:
    if outcome.appended == 1:
        return "1 event was appended"
    return f"{outcome.appended:,} events were appended"
