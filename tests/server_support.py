"""Helpers for the server tests: collecting delivered batches and waiting on them."""

import asyncio
from collections.abc import Callable
from typing import Any

STREAM = "events.iterate.com/stream/"
CREATED = STREAM + "created"
WOKEN = STREAM + "woken"
CONNECTED = STREAM + "subscriber-connected"
DISCONNECTED = STREAM + "subscriber-disconnected"
CHILD_CREATED = STREAM + "child-stream-created"
PAUSED = STREAM + "paused"
RESUMED = STREAM + "resumed"
CONFIGURED = STREAM + "configured"


class Batches:
    """An `on_batch` callback that records every delivery."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    def __call__(self, batch: dict[str, Any]) -> None:
        self.items.append(batch)
        self._changed.set()

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for batch in self.items for event in batch["events"]]

    @property
    def offsets(self) -> list[int]:
        return [event["offset"] for event in self.events]

    async def wait_for(self, predicate: Callable[["Batches"], bool], seconds: float = 10) -> None:
        async with asyncio.timeout(seconds):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

    async def wait_for_offset(self, offset: int, seconds: float = 10) -> None:
        await self.wait_for(lambda b: bool(b.offsets) and b.offsets[-1] >= offset, seconds)


def types_of(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]
