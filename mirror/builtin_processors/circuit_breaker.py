"""`circuit-breaker`: pauses a stream whose domain appends outrun a token bucket.

Configured by `events.iterate.com/circuit-breaker/configured {burstCapacity,
refillRatePerMinute}` (a later one replaces the limits and refills the bucket). Every domain
event (not `events.iterate.com/stream/*`, not the breaker's own configuration) spends a token
(`token_bucket.Bucket`); an event that leaves the bucket below zero appends
`events.iterate.com/stream/paused` with a reason naming the circuit breaker, unless the stream
is already paused. `stream/resumed` clears the debt. Trips are not latched in the state: every
over-budget event after the checkpoint may pause again, so a breaker that tripped during a
replay still pauses on later live events (the reference's M4 regression).
"""

from typing import Any, Final

from mirror.builtin_processors.token_bucket import Bucket, event_time_ms
from mirror.hosting.hosted import HostedProcessor
from mirror.hosting.stream_calls import is_paused_error
from mirror.processor import EventBatch, ReducedEvent
from mirror.types import Event

CONFIGURED: Final = "events.iterate.com/circuit-breaker/configured"
PAUSED: Final = "events.iterate.com/stream/paused"
RESUMED: Final = "events.iterate.com/stream/resumed"
CORE_PREFIX: Final = "events.iterate.com/stream/"

State = dict[str, Any]


def circuit_breaker_configured(burst_capacity: int, refill_per_minute: float) -> dict[str, Any]:
    """The configuration event, with an idempotency key naming the limits."""
    return {
        "type": CONFIGURED,
        "payload": {"burstCapacity": burst_capacity, "refillRatePerMinute": refill_per_minute},
        "idempotencyKey": f"circuit-breaker-configured:{burst_capacity}:{refill_per_minute}",
    }


def pause_reason(bucket: Bucket) -> str:
    return (
        f"circuit breaker: more than {bucket.burst} events in a burst "
        f"(refill {bucket.refill_per_minute:g} per minute)"
    )


class CircuitBreaker(HostedProcessor[State]):
    slug = "circuit-breaker"
    description = "Pauses the stream when appends exceed a token bucket"
    emits = (PAUSED,)

    def initial_state(self) -> State:
        return {"bucket": None, "counted": 0}

    def parse_state(self, stored: Any) -> State:
        return {"bucket": stored.get("bucket"), "counted": int(stored.get("counted", 0))}

    def validate_event(self, event: Event) -> None:
        if event["type"] != CONFIGURED:
            return
        payload = event.get("payload")
        burst = payload.get("burstCapacity") if isinstance(payload, dict) else None
        rate = payload.get("refillRatePerMinute") if isinstance(payload, dict) else None
        if not isinstance(burst, int) or isinstance(burst, bool) or burst < 1:
            raise ValueError(f"{CONFIGURED}: burstCapacity must be an integer >= 1")
        if not isinstance(rate, int | float) or isinstance(rate, bool) or rate < 0:
            raise ValueError(f"{CONFIGURED}: refillRatePerMinute must be a number >= 0")

    def reduce(self, state: State, event: Event) -> State:
        event_type = event["type"]
        at_ms = event_time_ms(event["createdAt"])
        if event_type == CONFIGURED:
            payload = event["payload"]
            bucket = Bucket.full(payload["burstCapacity"], payload["refillRatePerMinute"], at_ms)
            return {"bucket": bucket.to_json(), "counted": state["counted"]}
        if state["bucket"] is None:
            return state
        if event_type == RESUMED:
            return {**state, "bucket": Bucket.from_json(state["bucket"]).forgive().to_json()}
        if event_type.startswith(CORE_PREFIX):
            return state
        spent = Bucket.from_json(state["bucket"]).spend(at_ms)
        return {"bucket": spent.to_json(), "counted": state["counted"] + 1}

    async def process_event_batch(self, batch: EventBatch[State]) -> None:
        tripped = _first_trip(batch.reduced)
        if tripped is None or self.core_state.get("paused"):
            return
        bucket = Bucket.from_json(tripped.next_state["bucket"])
        await self.append_pause(tripped.event, bucket)

    async def append_pause(self, event: Event, bucket: Bucket) -> None:
        try:
            await self.append(
                {
                    "type": PAUSED,
                    "payload": {"reason": pause_reason(bucket)},
                    "idempotencyKey": self.effect_key(event, "paused"),
                }
            )
        except Exception as exc:
            if not is_paused_error(exc):
                raise


def _first_trip(reduced: list[ReducedEvent[State]]) -> ReducedEvent[State] | None:
    for item in reduced:
        counted = item.next_state["counted"] != item.previous_state["counted"]
        bucket = item.next_state["bucket"]
        if counted and bucket is not None and Bucket.from_json(bucket).tripped:
            return item
    return None
