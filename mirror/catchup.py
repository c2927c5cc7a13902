"""Catch-up: page a stream's history with ``getEvents`` into the mirror (pipelined).

Public API:

- ``catch_up(fetch_page, write_page, *, after, total, page_size, deadline, on_progress,
  clock) -> int``: fetch pages of ``page_size`` events after offset ``after`` and write each
  one, until a page comes back shorter than ``page_size`` (the head of the stream); returns the
  last offset written (``after`` if nothing was). The next page is fetched while the current one
  is being written, and at most two pages wait, so memory stays bounded however big the
  stream. ``on_progress(CatchupProgress)`` after every page (``total`` grows if the stream does).
  A failed ``write_page`` raises ``CatchupWriteError`` (its cause is the write error), a failed
  or late fetch (``deadline`` seconds per page) raises the fetch error itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from mirror.runtime_status import CatchupProgress

Events = Sequence[dict[str, Any]]
_QUEUE_PAGES = 2


class CatchupWriteError(Exception):
    """Writing a fetched page into the mirror failed (``__cause__`` says why)."""


async def catch_up(
    fetch_page: Callable[[int, int], Awaitable[Events]],
    write_page: Callable[[Events], Awaitable[object]],
    *,
    after: int,
    total: int,
    page_size: int,
    deadline: float,
    on_progress: Callable[[CatchupProgress], None],
    clock: Callable[[], float],
) -> int:
    pages: asyncio.Queue[Events | None] = asyncio.Queue(maxsize=_QUEUE_PAGES)

    async def fetch_all() -> None:
        cursor = after
        while True:
            async with asyncio.timeout(deadline):
                page = await fetch_page(cursor, page_size)
            await pages.put(page)
            if len(page) < page_size:
                await pages.put(None)
                return
            cursor = int(page[-1]["offset"])

    fetcher = asyncio.create_task(fetch_all(), name="mirror catch-up fetch")
    started = clock()
    done = after
    try:
        while True:
            if fetcher.done():
                fetcher.result()  # raises if the fetch failed
                page = await pages.get()  # it queued every page and the end marker
            else:
                getter = asyncio.ensure_future(pages.get())
                await asyncio.wait({getter, fetcher}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    continue
                page = getter.result()
            if page is None:
                return done
            if page:
                try:
                    await write_page(page)
                except Exception as error:
                    raise CatchupWriteError(str(error)) from error
                done = int(page[-1]["offset"])
                total = max(total, done)
            elapsed = max(clock() - started, 1e-6)
            on_progress(CatchupProgress(done=done, total=total, rate=(done - after) / elapsed))
    finally:
        fetcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await fetcher
