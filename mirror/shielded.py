"""``Shielded``: mirror writes that run to completion even when their caller is cancelled.

Public API:

- ``Shielded()``: ``await run(work) -> result``: ``work`` runs on even if the awaiting task is
  cancelled (a dial superseded mid-write), so the in-memory checkpoints always match what was
  committed. ``await once(key, make) -> result``: the same, single-flight: callers that come
  while one ``make()`` runs share it (opening the mirror once however many dials ask).
  ``await drain()``: wait for every write still running (close).

An abandoned write's error is retrieved here so it is never reported as unhandled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class Shielded:
    def __init__(self) -> None:
        self._inflight: set[asyncio.Future[Any]] = set()
        self._single: dict[str, asyncio.Future[Any]] = {}

    async def run(self, work: Awaitable[T]) -> T:
        return await asyncio.shield(self._track(asyncio.ensure_future(work)))

    async def once(self, key: str, make: Callable[[], Awaitable[T]]) -> T:
        future = self._single.get(key)
        if future is None or future.done():
            future = self._track(asyncio.ensure_future(make()))
            self._single[key] = future
        result: T = await asyncio.shield(future)
        return result

    async def drain(self) -> None:
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)

    def _track(self, future: asyncio.Future[T]) -> asyncio.Future[T]:
        self._inflight.add(future)
        future.add_done_callback(self._inflight.discard)
        future.add_done_callback(_consume)
        return future
