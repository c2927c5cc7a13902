"""The circuit breaker's token bucket, clocked by event `createdAt` times. Pure.

A bucket holds up to `burst` tokens and refills at `refill_per_minute`. Each counted event
first refills for the time since the anchor (the latest event time seen), then spends one
token; the balance may go below zero, which is what trips the breaker. An event stamped before
the anchor (clocks of different writers, or a replay) refills nothing and does not move the
anchor back, so it spends exactly one token (the reference's M3 regression drained the bucket).
"""

from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Bucket:
    burst: int
    refill_per_minute: float
    tokens: float
    anchor_ms: int

    @classmethod
    def full(cls, burst: int, refill_per_minute: float, at_ms: int) -> "Bucket":
        return cls(burst, refill_per_minute, float(burst), at_ms)

    def spend(self, at_ms: int) -> "Bucket":
        """Refill up to `at_ms`, then spend one token."""
        elapsed = max(0, at_ms - self.anchor_ms)
        refilled = min(float(self.burst), self.tokens + elapsed * self.refill_per_minute / 60_000)
        return replace(self, tokens=refilled - 1.0, anchor_ms=max(self.anchor_ms, at_ms))

    def forgive(self) -> "Bucket":
        """Clear any debt (an operator resumed the stream): the bucket restarts empty."""
        return replace(self, tokens=max(self.tokens, 0.0))

    @property
    def tripped(self) -> bool:
        return self.tokens < 0

    def to_json(self) -> dict[str, float | int]:
        return {
            "burstCapacity": self.burst,
            "refillRatePerMinute": self.refill_per_minute,
            "tokens": self.tokens,
            "anchorMs": self.anchor_ms,
        }

    @classmethod
    def from_json(cls, value: dict[str, float | int]) -> "Bucket":
        return cls(
            int(value["burstCapacity"]),
            float(value["refillRatePerMinute"]),
            float(value["tokens"]),
            int(value["anchorMs"]),
        )


def event_time_ms(created_at: str) -> int:
    """Milliseconds since the epoch of an ISO-8601 `createdAt` (`Z` or an offset)."""
    return int(datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp() * 1000)
