"""Reconnect and ingest backoff policy (pure; the runtime owns the timers).

Public API:

- ``ReconnectCause`` and ``reconnect_delay(cause) -> float`` (seconds): 1 s after a socket close
  or error, a failed connect or a failed election/subscribe; 0.25 s after a failed liveness probe;
  0 s for a nudge that found the subscription stale and after a kill/reset this client sent (the
  stream is already coming back: waiting would only leave the view disconnected; the reference
  waits 1 s here).
- ``ingest_backoff_delay(failures) -> float``: ``min(30, 0.25 * 2 ** min(failures - 1, 7))``
  seconds for the ``failures``-th consecutive failure: 0.25, 0.5, 1, 2, 4, 8, 16, 30, 30, ...
- ``IngestBackoff``: the consecutive-failure counter. ``record_failure() -> delay`` counts one
  more failure and returns its delay; ``record_success()`` resets the count. Only a batch that
  applied resets it; a clean resubscribe does not, or a poison batch would retry forever at the
  250 ms floor.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

INGEST_BACKOFF_FLOOR_S = 0.25
INGEST_BACKOFF_CAP_S = 30.0
INGEST_BACKOFF_MAX_EXPONENT = 7


class ReconnectCause(enum.Enum):
    CLOSED = "closed"
    CONNECT_FAILED = "connect-failed"
    SUBSCRIBE_FAILED = "subscribe-failed"
    CONTROL_CALL = "control-call"
    PROBE_FAILED = "probe-failed"
    NUDGE = "nudge"


_RECONNECT_DELAYS_S = {
    ReconnectCause.CLOSED: 1.0,
    ReconnectCause.CONNECT_FAILED: 1.0,
    ReconnectCause.SUBSCRIBE_FAILED: 1.0,
    ReconnectCause.CONTROL_CALL: 0.0,
    ReconnectCause.PROBE_FAILED: 0.25,
    ReconnectCause.NUDGE: 0.0,
}


def reconnect_delay(cause: ReconnectCause) -> float:
    """Seconds to wait before redialling after ``cause``."""
    return _RECONNECT_DELAYS_S[cause]


def ingest_backoff_delay(failures: int) -> float:
    """Seconds to wait before resubscribing after the ``failures``-th consecutive failure."""
    exponent = min(max(failures, 1) - 1, INGEST_BACKOFF_MAX_EXPONENT)
    return min(INGEST_BACKOFF_CAP_S, INGEST_BACKOFF_FLOOR_S * float(2**exponent))


@dataclass(slots=True)
class IngestBackoff:
    """Consecutive ingest failures; reset only by a batch that applied."""

    failures: int = 0

    def record_failure(self) -> float:
        self.failures += 1
        return ingest_backoff_delay(self.failures)

    def record_success(self) -> None:
        self.failures = 0
