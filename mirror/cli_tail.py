"""The ``tail`` verb: print a stream's events as JSON lines, resubscribing like the runtime does.

Public API:

- ``await tail(client, after, stop, *, deadline, give_up=None) -> int``: the exit code.
  ``after``: print events past this offset (None: only new ones, from the server's head when
  first dialled). Ends with 0 when ``stop`` is set or stdout goes away, 1 when the server
  refuses the token or when ``give_up`` seconds pass without a subscription (the clock
  restarts at each subscription).

A failed dial is one line on stderr: what went wrong in words (``mirror.cli_failure``) and the
delay before the next.

Each dial (``runtimeState`` when no offset is known yet, then ``subscribe``, each within
``deadline``) is one ``_TailDial``; the runtime's ``mirror.redial.Redialer`` supersedes and
re-arms it with the same ``mirror.backoff`` delays (1 s after a failed subscribe or a close),
so a late close of an old socket never disturbs its replacement.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys

import orjson

from mirror.backoff import ReconnectCause, reconnect_delay
from mirror.cli_common import EXIT_OK, fail, refusal
from mirror.cli_failure import plain_failure
from mirror.redial import Redialer, close_subscription
from mirror.types import Delivery
from wire.stream_client import AuthError, StreamClient, StreamError, Subscription

# How long a stopping tail waits for its unsubscribe.
_UNSUBSCRIBE_DEADLINE_S = 5.0


class _Tail:
    def __init__(
        self, client: StreamClient, after: int | None, deadline: float, give_up: float | None
    ) -> None:
        loop = asyncio.get_running_loop()
        self.client = client
        self.last = after
        self.deadline = deadline
        self.give_up = give_up
        self.last_failure = "not connected yet"
        self._give_up_timer: asyncio.TimerHandle | None = None
        self.finished: asyncio.Future[int] = loop.create_future()
        self.broken = False
        self.tasks: set[asyncio.Task[None]] = set()
        self.redial = Redialer(loop, self._dial)

    def _dial(self, epoch: int) -> _TailDial:
        return _TailDial(self, epoch)

    def spawn(self, task: asyncio.Task[None]) -> None:
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def redial_after(self, epoch: int, message: str, cause: ReconnectCause) -> None:
        if self.redial.is_current(epoch):
            delay = reconnect_delay(cause)
            self.last_failure = plain_failure(message, self.client.base_url)
            print(f"streamdesk: {self.last_failure}; retrying in {delay:.1f} s", file=sys.stderr)
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

    def print_batch(self, batch: Delivery) -> None:
        lines = []
        for event in batch.get("events") or []:
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


class _TailDial:
    def __init__(self, tail: _Tail, epoch: int) -> None:
        self.tail = tail
        self.epoch = epoch
        self.subscription: Subscription | None = None
        self.task = asyncio.ensure_future(self._run())
        tail.spawn(self.task)

    def cancel(self) -> None:
        if not self.task.done():
            self.task.cancel()
        subscription, self.subscription = self.subscription, None
        if subscription is not None:
            self.tail.spawn(
                asyncio.ensure_future(close_subscription(subscription, _UNSUBSCRIBE_DEADLINE_S))
            )

    def _on_batch(self, batch: Delivery) -> None:
        if self.tail.redial.is_current(self.epoch):
            self.tail.print_batch(batch)

    def _on_closed(self, _: asyncio.Future[BaseException]) -> None:
        self.tail.redial_after(self.epoch, "the connection closed", ReconnectCause.CLOSED)

    async def _run(self) -> None:
        tail = self.tail
        try:
            async with asyncio.timeout(tail.deadline):
                if tail.last is None:
                    state = await tail.client.runtime_state()
                    tail.last = int(state["coreProcessorState"]["maxOffset"])
                subscription = await tail.client.subscribe(
                    self._on_batch, replay_after_offset=tail.last
                )
        except AuthError as error:
            tail.finish(fail(refusal(error)))
            return
        except (StreamError, TimeoutError) as error:
            reason = error.message if isinstance(error, StreamError) else "timed out"
            tail.redial_after(self.epoch, reason, ReconnectCause.SUBSCRIBE_FAILED)
            return
        except Exception as error:
            if not tail.finished.done():
                tail.finished.set_exception(error)
            return
        self.subscription = subscription
        tail.stop_give_up()
        subscription.closed.add_done_callback(self._on_closed)


async def tail(
    client: StreamClient,
    after: int | None,
    stop: asyncio.Event,
    *,
    deadline: float,
    give_up: float | None = None,
) -> int:
    state = _Tail(client, after, deadline, give_up)
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
        if state.tasks:
            await asyncio.gather(*state.tasks, return_exceptions=True)
    if state.broken:
        # stdout went away (e.g. `| head`): quiet exit, like other Unix tools.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code
