"""Catch-up: page a stream's history with ``getEvents`` into the mirror (pipelined).

Public API:

- ``catch_up(fetch_page, plan_page, write_page, *, after, total, page_size, deadline,
  on_progress, clock) -> int``: fetch pages of ``page_size`` events after offset ``after``, plan
  each one (``plan_page(events, previous_plan)``, chained onto the plan before it, or None for
  the first) and write each plan, until a page comes back shorter than ``page_size`` (the head
  of the stream); returns the last offset written (``after`` if nothing was). The next pages
  are fetched and planned while the current one is being written, and at most two planned
  pages wait, so memory stays bounded however big the stream. ``on_progress(CatchupProgress)``
  after every page (``total`` grows if the stream does). A failed ``plan_page`` or
  ``write_page`` raises ``CatchupWriteError`` (its cause is the error), a failed or late fetch
  (``deadline`` seconds per page) raises the fetch error itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from mirror.runtime_status import CatchupProgress
from mirror.types import Events

P = TypeVar("P")
# The page type the fetch returns and the planner takes (any run of events).
E = TypeVar("E", bound=Events)
_QUEUE_PAGES = 2


class CatchupWriteError(Exception):
    """Planning or writing a fetched page into the mirror failed (``__cause__`` says why)."""


class _PlanFailed:
    """Queued in place of a page whose planning failed."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


async def catch_up(
    fetch_page: Callable[[int, int], Awaitable[E]],
    plan_page: Callable[[E, P | None], Awaitable[P]],
    write_page: Callable[[P], Awaitable[object]],
    *,
    after: int,
    total: int,
    page_size: int,
    deadline: float,
    on_progress: Callable[[CatchupProgress], None],
    clock: Callable[[], float],
) -> int:
    # (plan, last offset of its page), a planning failure, or None at the head of the stream.
    pages: asyncio.Queue[tuple[P, int] | _PlanFailed | None] = asyncio.Queue(maxsize=_QUEUE_PAGES)

    async def fetch_all() -> None:
        cursor = after
        previous: P | None = None
        while True:
            async with asyncio.timeout(deadline):
                page = await fetch_page(cursor, page_size)
            if page:
                cursor = int(page[-1]["offset"])
                try:
                    previous = await plan_page(page, previous)
                except Exception as error:
                    await pages.put(_PlanFailed(error))
                    return
                await pages.put((previous, cursor))
            if len(page) < page_size:
                await pages.put(None)
                return

    fetcher = asyncio.create_task(fetch_all(), name="mirror catch-up fetch")
    started = clock()
    done = after
    try:
        while True:
            if fetcher.done():
                fetcher.result()  # raises if the fetch failed
                item = await pages.get()  # it queued every page and the end marker
            else:
                getter = asyncio.ensure_future(pages.get())
                await asyncio.wait({getter, fetcher}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    continue
                item = getter.result()
            if item is None:
                return done
            if isinstance(item, _PlanFailed):
                raise CatchupWriteError(str(item.error)) from item.error
            plan, last_offset = item
            try:
                await write_page(plan)
            except Exception as error:
                raise CatchupWriteError(str(error)) from error
            done = last_offset
            total = max(total, done)
            elapsed = max(clock() - started, 1e-6)
            on_progress(CatchupProgress(done=done, total=total, rate=(done - after) / elapsed))
    finally:
        fetcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await fetcher
