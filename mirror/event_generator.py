"""Random events for load tests (the reference viewer's "Insert events" tool). Pure: no I/O.

`plan_batches(count, batch_size, seconds)` splits `count` events into ceil(count / batch_size)
batches spaced evenly over `seconds` (start offsets in seconds: batch i starts at
i * seconds / (batches - 1)). `random_batch(rng, plan, batch_index, stream_path, now)` builds one
batch: each event is one of the five `events.iterate.com/random/*` types with its own payload
fields, plus the debug fields every generated payload carries (batchIndex, batchSize, count,
generatedAt, index, streamPath). `streamdesk generate` (``mirror.cli_processors``) sends them;
the app's "Insert events" dialog can reuse the same functions.
"""

import math
import random
from dataclasses import dataclass
from typing import Any, Final

PREFIX: Final = "events.iterate.com/random/"
EVENT_TYPES: Final = tuple(
    PREFIX + name
    for name in ("note-appended", "tag-applied", "status-changed", "metric-recorded", "ping-sent")
)
_ACTORS: Final = ("ada", "grace", "linus", "barbara", "ken")
_WORDS: Final = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
_STATUSES: Final = ("todo", "doing", "review", "done", "blocked")
_METRICS: Final = (("latency", "ms"), ("throughput", "req/s"), ("queue-depth", "items"))


@dataclass(frozen=True, slots=True)
class BatchPlan:
    count: int
    batch_size: int
    batches: int
    starts: tuple[float, ...]
    """When each batch is due, in seconds after the start."""

    def size_of(self, batch_index: int) -> int:
        return min(self.batch_size, self.count - batch_index * self.batch_size)


def plan_batches(count: int, batch_size: int, seconds: float) -> BatchPlan:
    if count < 0 or batch_size < 1 or seconds < 0:
        raise ValueError("count must be >= 0, batch size >= 1 and seconds >= 0")
    batches = math.ceil(count / batch_size)
    step = seconds / (batches - 1) if batches > 1 else 0.0
    return BatchPlan(count, batch_size, batches, tuple(i * step for i in range(batches)))


def random_event(rng: random.Random, index: int, debug: dict[str, Any]) -> dict[str, Any]:
    """One event of a random type; `index` is its position in the whole run."""
    event_type = rng.choice(EVENT_TYPES)
    name = event_type.removeprefix(PREFIX)
    payload: dict[str, Any]
    if name == "note-appended":
        payload = {"actor": rng.choice(_ACTORS), "body": " ".join(rng.choices(_WORDS, k=6))}
    elif name == "tag-applied":
        payload = {"actor": rng.choice(_ACTORS), "tags": rng.sample(_WORDS, k=rng.randint(1, 3))}
    elif name == "status-changed":
        before, after = rng.sample(_STATUSES, k=2)
        payload = {"from": before, "to": after}
    elif name == "metric-recorded":
        metric, unit = rng.choice(_METRICS)
        payload = {"metric": metric, "unit": unit, "value": round(rng.uniform(0, 1000), 3)}
    else:
        payload = {"message": f"ping {index}", "sequence": index}
    return {"type": event_type, "payload": {**payload, **debug, "index": index}}


def random_batch(
    rng: random.Random, plan: BatchPlan, batch_index: int, stream_path: str, now: str
) -> list[dict[str, Any]]:
    size = plan.size_of(batch_index)
    first = batch_index * plan.batch_size
    debug = {
        "batchIndex": batch_index,
        "batchSize": size,
        "count": plan.count,
        "generatedAt": now,
        "streamPath": stream_path,
    }
    return [random_event(rng, first + i, debug) for i in range(size)]
