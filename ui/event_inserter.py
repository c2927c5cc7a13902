"""One run of the "Insert events" generator: random batches appended on schedule (no Qt).

`EventInserter(append_batch, stream_path, plan, mode, on_progress=...)` sends the batches of a
`mirror.event_generator.BatchPlan` at their due times, built by `random_batch`. `await run()`
returns "done" or "stopped" (after `stop()`: no batch starts after it) and raises what a batch
raised. The response mode says what is awaited, as the reference viewer's appendBatch modes:

- await: each batch's answer before the next batch is due (progress counts committed events);
- background: batches go out on schedule, answers are awaited at the end (progress counts
  committed events as answers arrive; the first failure is raised);
- dispose: batches go out on schedule and their answers are not waited for (progress counts
  sent events; a failure is only logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final, Literal

from mirror.event_generator import BatchPlan, random_batch

log = logging.getLogger(__name__)

ResponseMode = Literal["await", "background", "dispose"]
RESPONSE_MODES: Final[tuple[ResponseMode, ...]] = ("await", "background", "dispose")

AppendBatch = Callable[[list[dict[str, Any]]], Awaitable[object]]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventInserter:
    def __init__(
        self,
        append_batch: AppendBatch,
        stream_path: str,
        plan: BatchPlan,
        mode: ResponseMode = "await",
        *,
        on_progress: Callable[[int, int], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._append_batch = append_batch
        self._path = stream_path
        self.plan = plan
        self.mode = mode
        self._on_progress = on_progress
        self._rng = rng or random.Random()
        self._stop = asyncio.Event()
        self._in_flight: set[asyncio.Task[object]] = set()
        self.done_count = 0
        """Events committed (await, background) or sent (dispose) so far."""

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    async def run(self) -> Literal["done", "stopped"]:
        start = time.monotonic()
        try:
            for index in range(self.plan.batches):
                due = start + self.plan.starts[index] - time.monotonic()
                if due > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), due)
                if self._stop.is_set():
                    break
                batch = random_batch(self._rng, self.plan, index, self._path, _now())
                await self._send(batch)
            if self.mode == "background" and self._in_flight:
                await asyncio.gather(*self._in_flight)
        finally:
            if self.mode != "dispose":
                for task in self._in_flight:
                    task.cancel()
        return "stopped" if self._stop.is_set() else "done"

    async def _send(self, batch: list[dict[str, Any]]) -> None:
        if self.mode == "await":
            await self._append_batch(batch)
            self._advance(len(batch))
            return
        task: asyncio.Task[object] = asyncio.ensure_future(self._append_batch(batch))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        if self.mode == "dispose":
            task.add_done_callback(_log_failure)
            self._advance(len(batch))
        else:
            task.add_done_callback(lambda done: self._answered(done, len(batch)))

    def _answered(self, task: asyncio.Task[object], size: int) -> None:
        if not task.cancelled() and task.exception() is None:
            self._advance(size)

    def _advance(self, size: int) -> None:
        self.done_count += size
        if self._on_progress is not None:
            self._on_progress(self.done_count, self.plan.count)


def _log_failure(task: asyncio.Task[object]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("a disposed batch failed: %s", task.exception())
