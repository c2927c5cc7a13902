"""Catch-up paging (``mirror.catchup``): pipelined, memory-bounded, errors kept apart."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from mirror.catchup import CatchupWriteError, catch_up
from mirror.runtime_status import CatchupProgress

Page = Sequence[dict[str, Any]]


class FakeStream:
    def __init__(self, size: int) -> None:
        self.size = size
        self.fetched = 0
        self.written = 0
        self.most_in_memory = 0
        self.log: list[str] = []
        self.clock = itertools.count()
        self.first = 1

    async def fetch(self, after: int, limit: int) -> Page:
        self.log.append(f"fetch {after}")
        await asyncio.sleep(0.001)
        page = [{"offset": n} for n in range(after + 1, min(self.size, after + limit) + 1)]
        self.fetched += len(page)
        self.most_in_memory = max(self.most_in_memory, self.fetched - self.written)
        return page

    async def plan(self, page: Page, previous: Page | None) -> Page:
        # A plan here is the page itself; each must be chained onto the one before it.
        expected = None if page[0]["offset"] == self.first else page[0]["offset"] - 1
        assert (None if previous is None else previous[-1]["offset"]) == expected
        self.log.append(f"plan {page[0]['offset']}")
        await asyncio.sleep(0.001)
        return page

    async def write(self, page: Page) -> None:
        self.log.append(f"write {page[0]['offset']} start")
        await asyncio.sleep(0.003)
        self.written += len(page)
        self.log.append(f"write {page[0]['offset']} end")


async def run(stream: FakeStream, progress: list[CatchupProgress], after: int = 0) -> int:
    stream.first = after + 1
    return await catch_up(
        stream.fetch,
        stream.plan,
        stream.write,
        after=after,
        total=stream.size,
        page_size=100,
        deadline=5.0,
        on_progress=progress.append,
        clock=lambda: float(next(stream.clock)),
    )


async def test_pages_to_the_head_with_bounded_memory_and_progress() -> None:
    stream = FakeStream(10_050)
    progress: list[CatchupProgress] = []
    assert await run(stream, progress, after=50) == 10_050
    assert stream.written == 10_000
    # The page being written, two queued, one fetched and waiting: never the whole stream.
    assert stream.most_in_memory <= 4 * 100
    assert [p.done for p in progress][-1] == 10_050
    assert all(p.total == 10_050 and p.rate >= 0 for p in progress)


async def test_the_next_page_is_fetched_and_planned_while_one_is_written() -> None:
    stream = FakeStream(1000)
    await run(stream, [])
    overlapped: set[str] = set()
    writing = False
    for entry in stream.log:
        if entry.endswith("start"):
            writing = True
        elif entry.endswith("end"):
            writing = False
        elif writing:
            overlapped.add(entry.split()[0])
    assert overlapped == {"fetch", "plan"}, stream.log
    planned = [int(e.split()[1]) for e in stream.log if e.startswith("plan")]
    written = [int(e.split()[1]) for e in stream.log if e.endswith("start")]
    assert planned == written == list(range(1, 1001, 100))


async def attempt(
    fetch: Callable[[int, int], Awaitable[Page]],
    plan: Callable[[Page, Page | None], Awaitable[Page]],
    write: Callable[[Page], Awaitable[None]],
) -> int:
    return await catch_up(
        fetch,
        plan,
        write,
        after=0,
        total=1000,
        page_size=100,
        deadline=5.0,
        on_progress=lambda _: None,
        clock=lambda: 0.0,
    )


async def test_write_failures_are_told_apart_from_fetch_failures() -> None:
    stream = FakeStream(1000)

    async def failing_write(page: Page) -> None:
        raise ValueError("disk says no")

    with pytest.raises(CatchupWriteError) as caught:
        await attempt(stream.fetch, stream.plan, failing_write)
    assert isinstance(caught.value.__cause__, ValueError)

    async def failing_plan(page: Page, previous: Page | None) -> Page:
        if page[0]["offset"] > 300:
            raise TypeError("cannot plan this")
        return page

    with pytest.raises(CatchupWriteError) as caught:
        await attempt(stream.fetch, failing_plan, stream.write)
    assert isinstance(caught.value.__cause__, TypeError)

    async def failing_fetch(after: int, limit: int) -> Page:
        if after >= 200:
            raise ConnectionError("server gone")
        return await stream.fetch(after, limit)

    with pytest.raises(ConnectionError):
        await attempt(failing_fetch, stream.plan, stream.write)
