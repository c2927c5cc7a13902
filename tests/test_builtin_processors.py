"""The built-in processors' logic: the token bucket and the circuit breaker's regressions
(client-runtime.md T5/M3 and T6/M4), with a local stream handle that records appends."""

from typing import Any

from mirror.builtin_processors.circuit_breaker import (
    CONFIGURED,
    PAUSED,
    RESUMED,
    CircuitBreaker,
)
from mirror.builtin_processors.echo import INPUT, OUTPUT, EchoProcessor
from mirror.builtin_processors.token_bucket import Bucket, event_time_ms


class RecordingStream:
    """A local stream handle: keeps appends, refuses them while `paused` as a server would."""

    def __init__(self) -> None:
        self.appended: list[dict[str, Any]] = []
        self.paused = False

    def append(self, argument: dict[str, Any]) -> dict[str, Any]:
        if self.paused:
            raise RuntimeError("stream paused: already")
        appended: dict[str, Any] = argument["event"]
        self.appended.append(appended)
        return appended

    def appendBatch(self, argument: dict[str, Any]) -> list[dict[str, Any]]:
        self.appended.extend(argument["events"])
        return list(argument["events"])


def event(offset: int, event_type: str, at: str, payload: Any = None) -> dict[str, Any]:
    return {"offset": offset, "type": event_type, "createdAt": at, "payload": payload or {}}


def test_bucket_refills_by_event_time_and_caps_at_burst() -> None:
    start = event_time_ms("2026-01-01T00:00:00.000Z")
    bucket = Bucket.full(2, 60, start)
    bucket = bucket.spend(start).spend(start).spend(start)
    assert bucket.tokens == -1 and bucket.tripped
    # 60 per minute = one per second: two seconds later there are two more tokens (then one spent)
    later = bucket.spend(start + 2000)
    assert later.tokens == 0 and not later.tripped
    rested = later.spend(start + 600_000)
    assert rested.tokens == 1  # refilled to the burst of 2, then one spent


def test_t5_an_event_stamped_before_the_anchor_spends_one_token() -> None:
    anchor = event_time_ms("2026-01-01T00:00:10.000Z")
    bucket = Bucket(5, 1, 5.0, anchor)
    earlier = bucket.spend(anchor - 1000)
    assert earlier.tokens == 4 and earlier.anchor_ms == anchor


async def test_circuit_breaker_pauses_once_per_trip() -> None:
    stream = RecordingStream()
    breaker = CircuitBreaker(subscription_key="cb")
    breaker.attach(stream)
    t = "2026-01-01T00:00:00.000Z"
    await breaker.ingest(
        [
            event(3, CONFIGURED, t, {"burstCapacity": 1, "refillRatePerMinute": 1}),
            event(4, "app.a", t),
            event(5, "app.b", t),
            event(6, "app.c", t),
        ]
    )
    assert [e["type"] for e in stream.appended] == [PAUSED]
    assert "circuit breaker" in stream.appended[0]["payload"]["reason"]
    assert stream.appended[0]["idempotencyKey"] == "circuit-breaker:cb:5:paused"
    assert breaker.state["counted"] == 3


async def test_t6_a_trip_replayed_below_the_checkpoint_still_pauses_later_live_events() -> None:
    stream = RecordingStream()
    breaker = CircuitBreaker(subscription_key="cb")
    breaker.attach(stream)
    t = "2026-01-01T00:00:00.000Z"
    # First life: the trip at offset 5 paused the stream; the checkpoint is at 5.
    await breaker.ingest(
        [
            event(3, CONFIGURED, t, {"burstCapacity": 1, "refillRatePerMinute": 1}),
            event(4, "app.a", t),
            event(5, "app.b", t),
        ]
    )
    assert len(stream.appended) == 1
    # A replay of the same events (a re-dial from an older cursor) runs no side effect ...
    await breaker.ingest([event(4, "app.a", t), event(5, "app.b", t)])
    assert len(stream.appended) == 1
    # ... and after an operator resume, the next live over-budget event pauses again.
    breaker.core_state = {"paused": False}
    await breaker.ingest([event(6, RESUMED, t), event(7, "app.c", t)])
    assert [e["type"] for e in stream.appended] == [PAUSED, PAUSED]
    assert stream.appended[1]["idempotencyKey"] == "circuit-breaker:cb:7:paused"


async def test_circuit_breaker_skips_the_append_while_the_stream_is_paused() -> None:
    stream = RecordingStream()
    breaker = CircuitBreaker(subscription_key="cb")
    breaker.attach(stream)
    breaker.core_state = {"paused": True}
    t = "2026-01-01T00:00:00.000Z"
    await breaker.ingest(
        [
            event(3, CONFIGURED, t, {"burstCapacity": 1, "refillRatePerMinute": 0}),
            event(4, "app.a", t),
            event(5, "app.b", t),
        ]
    )
    assert stream.appended == [] and breaker.checkpoint_offset == 5


async def test_unconfigured_breaker_counts_nothing() -> None:
    breaker = CircuitBreaker()
    breaker.attach(RecordingStream())
    await breaker.ingest([event(3, "app.a", "2026-01-01T00:00:00Z")])
    assert breaker.state == {"bucket": None, "counted": 0}


async def test_echo_appends_one_output_per_input_in_one_batch() -> None:
    stream = RecordingStream()
    echo = EchoProcessor(subscription_key="e")
    echo.attach(stream)
    t = "2026-01-01T00:00:00Z"
    await echo.ingest([event(3, INPUT, t), event(4, "other", t), event(5, INPUT, t)])
    assert [(e["type"], e["payload"]["seen"]) for e in stream.appended] == [
        (OUTPUT, 1),
        (OUTPUT, 2),
    ]
    assert [e["idempotencyKey"] for e in stream.appended] == [
        "echo-example:e:3",
        "echo-example:e:5",
    ]
