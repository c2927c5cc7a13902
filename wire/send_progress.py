"""How far the transport has taken a session's outgoing messages, for senders that wait."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable

__all__ = ["SendProgress"]


class SendProgress:
    """Counts the messages handed to the transport (numbered as `RpcProtocol.queued` numbers
    them); `wait(n)` returns once message `n` has been handed over."""

    def __init__(self) -> None:
        self.sent = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def advance(self, count: int) -> None:
        self.sent += count
        waiters = self._waiters
        while waiters and waiters[0][0] <= self.sent:
            fut = heapq.heappop(waiters)[2]
            if not fut.done():
                fut.set_result(None)

    async def wait(self, seq: int) -> None:
        if self.sent >= seq:
            return
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (seq, next(self._order), fut))
        await fut

    def fail_all(self, make_error: Callable[[], BaseException]) -> None:
        """The session ended: every waiter fails (each with an error of its own)."""
        for _, _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(make_error())
        self._waiters.clear()
