"""The runtime's one tick: requests coalesce, idle ticks hold nothing back, `at_once`."""

from __future__ import annotations

import asyncio

from mirror.coalescer import Coalescer


class Counter:
    def __init__(self, works: bool = True) -> None:
        self.works = works
        self.ticks = 0

    def __call__(self) -> bool:
        self.ticks += 1
        return self.works


async def turns(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_requests_within_the_interval_share_one_later_tick() -> None:
    coalescer = Coalescer(asyncio.get_running_loop(), 0.2)
    step = Counter()
    coalescer.add(step)
    coalescer.request()
    await turns()
    assert step.ticks == 1, "the first request runs on the next loop turn"
    for _ in range(5):
        coalescer.request()
    await turns()
    assert step.ticks == 1, "later ones wait for the interval"
    await asyncio.sleep(0.3)
    assert step.ticks == 2, "and are served by one tick"
    coalescer.close()


async def test_a_tick_that_did_nothing_holds_nothing_back() -> None:
    coalescer = Coalescer(asyncio.get_running_loop(), 10.0)
    step = Counter(works=False)
    coalescer.add(step)
    coalescer.request()
    await turns()
    coalescer.request()
    await turns()
    assert step.ticks == 2
    coalescer.close()


async def test_at_once_overrides_the_interval_and_close_stops_ticks() -> None:
    coalescer = Coalescer(asyncio.get_running_loop(), 10.0)
    step = Counter()
    coalescer.add(step)
    coalescer.request()
    await turns()
    coalescer.request()  # waits 10 s
    coalescer.request(at_once=True)
    await turns()
    assert step.ticks == 2
    coalescer.request(at_once=True)
    coalescer.close()
    await turns()
    assert step.ticks == 2
