"""A user's processor as `streamdesk processor run processor_example:OrderConfirmer` loads it
(the test puts tests/ on PYTHONPATH): confirms every placed order, a little slowly, so a
SIGKILL lands in the middle of a stream."""

import asyncio
from typing import Any

from mirror.hosting.hosted import HostedProcessor
from mirror.processor import EventBatch
from mirror.types import Event

PLACED = "app.order-placed"
CONFIRMED = "app.order-confirmed"


class OrderConfirmer(HostedProcessor[dict[str, Any]]):
    slug = "order-confirmer"
    consumes = frozenset({PLACED})
    emits = (CONFIRMED,)

    def initial_state(self) -> dict[str, Any]:
        return {"orders": 0, "total": 0}

    def reduce(self, state: dict[str, Any], event: Event) -> dict[str, Any]:
        return {"orders": state["orders"] + 1, "total": state["total"] + event["payload"]["amount"]}

    async def process_event_batch(self, batch: EventBatch[dict[str, Any]]) -> None:
        for item in batch.reduced:
            await asyncio.sleep(0.01)
            await self.append(
                {
                    "type": CONFIRMED,
                    "payload": {
                        "orderOffset": item.event["offset"],
                        "runningTotal": item.next_state["total"],
                    },
                    "idempotencyKey": self.effect_key(item.event),
                }
            )
