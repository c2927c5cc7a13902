"""The one place the UI runs blocking work (SQLite reads, JSON formatting, file export).

Views call `await run_blocking(fn, ...)` from coroutines on the qasync loop; the work runs on
worker threads so the Qt event loop keeps painting. Quick reads (counts, row pages, one event's
JSON) queue on one thread, in order; long jobs (SQL console, exports) get their own pool so they
never hold up scrolling. `spawn` starts a coroutine from a Qt slot, keeps it referenced until it
is done and logs what it raised; a task spawned for an `owner` widget or model is cancelled when
that object is destroyed, so late results never reach a deleted C++ object.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from PySide6.QtCore import QObject

log = logging.getLogger(__name__)

T = TypeVar("T")

# One thread for quick reads: they are short, and in order they never pile up on a lock.
_QUICK = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ui-read")
_LONG = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ui-long")
_tasks: set[asyncio.Task[Any]] = set()


async def run_blocking(fn: Callable[..., T], *args: Any, long: bool = False) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_LONG if long else _QUICK, functools.partial(fn, *args))


def spawn(
    coro: Coroutine[Any, Any, Any], *, what: str, owner: QObject | None = None
) -> asyncio.Task[Any]:
    task = asyncio.ensure_future(coro)
    _tasks.add(task)
    if owner is not None:
        owner.destroyed.connect(lambda *_: task.cancel())

    def done(finished: asyncio.Task[Any]) -> None:
        _tasks.discard(finished)
        if not finished.cancelled() and finished.exception() is not None:
            log.error("%s failed", what, exc_info=finished.exception())

    task.add_done_callback(done)
    return task


async def drain() -> None:
    """Wait for every spawned task (used on shutdown and by tests)."""
    while _tasks:
        await asyncio.gather(*list(_tasks), return_exceptions=True)
