"""``Redialer``: the epoch, the ONE dial timer and the current connection (runtime and ``tail``).

Public API:

- ``Dial``: what a connection offers the redialer: ``cancel()`` (supersede it).
- ``Redialer(loop, dial, *, may_dial=lambda: True)``: ``dial(epoch) -> Dial`` starts one
  connection; ``may_dial()`` is asked before each dial and by ``is_current`` (a runtime that is
  closing or no longer writes the mirror neither dials nor hears its connection's callbacks).
  - ``epoch``: bumped by every dial and every ``supersede()``.
  - ``is_current(epoch) -> bool``: THE check every late callback is held against: a close,
    delivery, answer or failed write made for a superseded connection must not touch its
    replacement.
  - ``supersede()``: cancel the current connection (its callbacks are stale from now on).
  - ``arm(when)``: dial at loop time ``when`` (replacing any armed dial); ``disarm()``;
    ``dial_now()``.
  - ``stop()``: supersede and disarm for good (close).
- ``close_subscription(subscription, deadline)``: unsubscribe within ``deadline`` seconds, else
  just close the socket (used when a connection is superseded or a verb stops).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from wire.stream_client import Subscription

log = logging.getLogger(__name__)


class Dial(Protocol):
    def cancel(self) -> None: ...


class Redialer:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        dial: Callable[[int], Dial],
        *,
        may_dial: Callable[[], bool] = lambda: True,
    ) -> None:
        self.epoch = 0
        self.connection: Dial | None = None
        self._loop = loop
        self._dial = dial
        self._may_dial = may_dial
        self._timer: asyncio.TimerHandle | None = None
        self._stopped = False

    def is_current(self, epoch: int) -> bool:
        return epoch == self.epoch and not self._stopped and self._may_dial()

    def supersede(self) -> None:
        self.epoch += 1
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.cancel()

    def arm(self, when: float) -> None:
        self.disarm()
        if not self._stopped:
            self._timer = self._loop.call_at(when, self.dial_now)

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def dial_now(self) -> None:
        self._timer = None
        if self._stopped or not self._may_dial():
            return
        self.supersede()
        self.connection = self._dial(self.epoch)

    def stop(self) -> None:
        self._stopped = True
        self.supersede()
        self.disarm()


async def close_subscription(subscription: Subscription, deadline: float) -> None:
    try:
        async with asyncio.timeout(deadline):
            await subscription.unsubscribe()
    except Exception as error:
        log.debug("closing a subscription failed: %s", error or type(error).__name__)
        with contextlib.suppress(Exception):
            await subscription.aclose()
