"""Helpers for the processor tests: polling a stream until its log satisfies a condition."""

import asyncio
from collections.abc import Callable
from typing import Any

from wire.stream_client import StreamClient

Events = list[dict[str, Any]]


async def wait_for_events(
    client: StreamClient,
    predicate: Callable[[Events], bool],
    seconds: float = 10.0,
    interval: float = 0.05,
) -> Events:
    """Read the whole log until `predicate(events)` holds; returns that log."""
    events: Events = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                events = await client.get_events()
                if predicate(events):
                    return events
                await asyncio.sleep(interval)
    except TimeoutError:
        tail = [(e["offset"], e["type"], e.get("payload")) for e in events[-8:]]
        raise AssertionError(f"condition not met within {seconds} s; log tail: {tail}") from None


def of_type(events: Events, event_type: str) -> Events:
    return [e for e in events if e["type"] == event_type]


def disconnect_reasons(events: Events, key: str) -> list[str]:
    return [
        e["payload"]["reason"]
        for e in events
        if e["type"] == "events.iterate.com/stream/subscriber-disconnected"
        and e["payload"]["subscriptionKey"] == key
    ]


def outbound_connects(events: Events, key: str) -> int:
    return sum(
        1
        for e in events
        if e["type"] == "events.iterate.com/stream/subscriber-connected"
        and e["payload"]["subscriptionKey"] == key
        and e["payload"]["direction"] == "outbound"
    )
