"""`echo-example` (the reference's scenario 34): answers every
`events.iterate.com/echo-example/input-received` with `.../output-echoed` whose `payload.seen`
is the running count of inputs. One `appendBatch` per delivered batch; each output's
idempotency key names its input's offset, so a re-applied batch echoes nothing twice."""

from typing import Any, Final

from mirror.hosting.hosted import HostedProcessor
from mirror.processor import EventBatch
from mirror.types import Event

INPUT: Final = "events.iterate.com/echo-example/input-received"
OUTPUT: Final = "events.iterate.com/echo-example/output-echoed"

State = dict[str, int]


class EchoProcessor(HostedProcessor[State]):
    slug = "echo-example"
    description = "Echoes every input-received event as output-echoed"
    consumes = frozenset({INPUT})
    emits = (OUTPUT,)

    def initial_state(self) -> State:
        return {"seen": 0}

    def parse_state(self, stored: Any) -> State:
        return {"seen": int(stored.get("seen", 0))}

    def reduce(self, state: State, event: Event) -> State:
        return {"seen": state["seen"] + 1}

    async def process_event_batch(self, batch: EventBatch[State]) -> None:
        await self.append_batch(
            [
                {
                    "type": OUTPUT,
                    "payload": {
                        "seen": item.next_state["seen"],
                        "inputOffset": item.event["offset"],
                    },
                    "idempotencyKey": self.effect_key(item.event),
                }
                for item in batch.reduced
            ]
        )
