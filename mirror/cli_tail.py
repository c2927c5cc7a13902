"""The ``tail`` verb: print a stream's events as JSON lines, following it like the runtime does.

Public API:

- ``await tail(client, after, stop, *, timing, give_up=None) -> int``: the exit code.
  ``after``: print events past this offset (None: only new ones, from the server's head when
  first dialled). Ends with 0 when ``stop`` is set or stdout goes away, 1 when the server
  refuses the token or when ``give_up`` seconds pass without a subscription (the clock
  restarts at each subscription). ``timing``: the runtime's ``RuntimeTiming`` (the verb uses
  its defaults: step deadline, liveness probe, unsubscribe deadline). Ending, it waits at most
  ``EXIT_GRACE_S`` for unsubscribes still running (a frozen socket's would take the
  unsubscribe deadline and the WebSocket close timeout).
- ``tail_start(*, followed, last, incarnation, head) -> TailStart`` (pure): where a dial
  starts printing.

Each dial is the runtime's own ``mirror.connection.Connection`` (runtimeState, subscribe, each
within the step deadline; deliveries checked against the stream's incarnation; the liveness
probe, so a frozen socket is noticed and dialled again instead of waiting for ever), on the
runtime's ``mirror.redial.Redialer`` with the ``mirror.backoff`` delays. This module is its
host: ``prepare`` says where to subscribe from, ``deliver`` prints, and a failed dial, a close
or a failed probe is one line on stderr: what went wrong in words (``mirror.cli_failure``) and
the delay before the next dial.

A reset stream (a new incarnation, seen in a dial's runtimeState, a delivery or a probe
answer): tail dials again at once, says so in one line on stderr, ``the stream was reset (new
incarnation X); following it from its start``, and prints the new incarnation's events from
offset 1 on. Offsets start over there, so the lines after that line are a new history.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

import orjson

from mirror.backoff import ReconnectCause, reconnect_delay
from mirror.cli_common import EXIT_OK, fail, refusal
from mirror.cli_failure import plain_failure
from mirror.connection import Connection
from mirror.redial import Redialer
from mirror.runtime_status import RuntimeTiming
from mirror.types import Events
from wire.stream_client import AuthError, StreamClient

T = TypeVar("T")

# How long an ending verb waits for its unsubscribes: a courtesy to the server (a subscription
# ends with its socket anyway) that a frozen socket must not turn into a slow exit.
EXIT_GRACE_S = 1.0


@dataclass(frozen=True, slots=True)
class TailStart:
    after: int
    # The stream is another incarnation than the one printed so far.
    reset: bool


def tail_start(*, followed: str | None, last: int | None, incarnation: str, head: int) -> TailStart:
    """Where a dial starts: after the last printed offset of the incarnation ``followed`` so
    far (``last``: ``--after`` before anything was printed), the server's ``head`` when nothing
    is known yet, or the start of a new ``incarnation``."""
    if followed is not None and followed != incarnation:
        return TailStart(0, reset=True)
    return TailStart(head if last is None else last, reset=False)


def _seconds(delay: float) -> str:
    return f"{delay:.1f}" if round(delay, 1) == delay else f"{delay:.2f}"


class _Tail:
    """The tail verb as the ``ConnectionHost`` of its dials."""

    subscription_key: str | None = None
    subscriber: dict[str, str] | None = None

    def __init__(
        self,
        client: StreamClient,
        after: int | None,
        timing: RuntimeTiming,
        give_up: float | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.client = client
        self.timing = timing
        self.last = after
        self.give_up = give_up
        # The incarnation whose offsets ``last`` counts (None before the first dial).
        self.followed: str | None = None
        self.last_failure = "not connected yet"
        self._give_up_timer: asyncio.TimerHandle | None = None
        self.finished: asyncio.Future[int] = loop.create_future()
        self.broken = False
        self.tasks: set[asyncio.Task[object]] = set()
        self.redial = Redialer(loop, self._dial)

    def _dial(self, epoch: int) -> Connection:
        return Connection(self, epoch, self.client)

    def spawn(self, work: Awaitable[T], name: str) -> asyncio.Task[T]:
        task = asyncio.ensure_future(work)
        task.set_name(name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def prepare(self, connection: Connection, incarnation: str, head: int) -> int:
        start = tail_start(
            followed=self.followed, last=self.last, incarnation=incarnation, head=head
        )
        if start.reset:
            print(
                f"streamdesk: the stream was reset (new incarnation {incarnation}); "
                "following it from its start",
                file=sys.stderr,
            )
        self.followed, self.last = incarnation, start.after
        return start.after

    def subscribed(self) -> None:
        self.stop_give_up()

    def deliver(self, epoch: int, incarnation: str, events: Events) -> None:
        lines = []
        for event in events:
            offset = event.get("offset")
            if isinstance(offset, int) and (self.last is None or offset > self.last):
                lines.append(orjson.dumps(event).decode())
                self.last = offset
        if lines:
            try:
                sys.stdout.write("\n".join(lines) + "\n")
                sys.stdout.flush()
            except BrokenPipeError:
                self.broken = True
                self.finish(EXIT_OK)

    def schedule_reconnect(self, error: str, delay: float) -> None:
        """The verb's one reconnect path: a line on stderr, then dial again after ``delay``."""
        self.last_failure = plain_failure(error, self.client.base_url)
        print(f"streamdesk: {self.last_failure}; retrying in {_seconds(delay)} s", file=sys.stderr)
        self._redial_after(delay)

    def subscription_closed(self, epoch: int, reason: str) -> None:
        self.schedule_reconnect("the connection closed", reconnect_delay(ReconnectCause.CLOSED))

    def stream_was_reset(self, reason: str) -> None:
        # Quietly: the next dial's prepare sees the new incarnation and says so in one line.
        self._redial_after(0.0)

    def unauthorized(self, error: AuthError) -> None:
        self.finish(fail(refusal(error)))

    def _redial_after(self, delay: float) -> None:
        self.redial.supersede()
        self.redial.arm(asyncio.get_running_loop().time() + delay)
        self.arm_give_up()

    def arm_give_up(self) -> None:
        """Start the clock of ``give_up`` (unless it runs already)."""
        if self.give_up is not None and self._give_up_timer is None:
            self._give_up_timer = asyncio.get_running_loop().call_later(self.give_up, self._gave_up)

    def stop_give_up(self) -> None:
        if self._give_up_timer is not None:
            self._give_up_timer.cancel()
            self._give_up_timer = None

    def _gave_up(self) -> None:
        self.finish(
            fail(
                f"gave up after {self.give_up:g} s without a connection to "
                f"{self.client.base_url}: {self.last_failure}"
            )
        )

    def finish(self, code: int) -> None:
        if not self.finished.done():
            self.finished.set_result(code)


async def _settle(tasks: set[asyncio.Task[object]]) -> None:
    if not tasks:
        return
    _, pending = await asyncio.wait(set(tasks), timeout=EXIT_GRACE_S)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def tail(
    client: StreamClient,
    after: int | None,
    stop: asyncio.Event,
    *,
    timing: RuntimeTiming,
    give_up: float | None = None,
) -> int:
    state = _Tail(client, after, timing, give_up)
    stopped = asyncio.ensure_future(stop.wait())
    stopped.add_done_callback(lambda _: state.finish(EXIT_OK))
    state.arm_give_up()
    state.redial.dial_now()
    try:
        code = await state.finished
    finally:
        stopped.cancel()
        state.stop_give_up()
        state.redial.stop()
        await _settle(state.tasks)
    if state.broken:
        # stdout went away (e.g. `| head`): quiet exit, like other Unix tools.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code
