"""The coalescing timer: requests coalesce, and a run that did nothing holds nothing back."""

from __future__ import annotations

import asyncio

from mirror.coalescer import Coalescer


class Counter:
    def __init__(self, works: bool = True) -> None:
        self.works = works
        self.runs = 0

    def __call__(self) -> bool:
        self.runs += 1
        return self.works


async def turns(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_requests_within_the_interval_share_one_later_run() -> None:
    run = Counter()
    coalescer = Coalescer(asyncio.get_running_loop(), 0.2, run)
    coalescer.request()
    await turns()
    assert run.runs == 1, "the first request runs on the next loop turn"
    for _ in range(5):
        coalescer.request()
    await turns()
    assert run.runs == 1, "later ones wait for the interval"
    await asyncio.sleep(0.3)
    assert run.runs == 2, "and are served by one run"
    coalescer.close()


async def test_a_run_that_did_nothing_holds_nothing_back_and_close_stops_runs() -> None:
    run = Counter(works=False)
    coalescer = Coalescer(asyncio.get_running_loop(), 10.0, run)
    coalescer.request()
    await turns()
    coalescer.request()
    await turns()
    assert run.runs == 2
    coalescer.request()
    coalescer.close()
    await turns()
    assert run.runs == 2
