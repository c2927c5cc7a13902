"""What the stream gate panel shows, decided from the polled runtime state (pure, no Qt).

`gate_view(state, connection, online)` turns the last `runtimeState()` (None while unknown),
the connection state and whether the stream has a server into what the panel shows: the gate
(Active / Paused / …), the pause reason, whether Resume is offered, and whether the
circuit-breaker form may be used (with the note why not). `resume_event()` and
`breaker_events(...)` are the events the panel appends; `refusal_text(error)` is how the
composer words a failed append.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from mirror.builtin_processors.circuit_breaker import (
    RESUMED,
    CircuitBreaker,
    circuit_breaker_configured,
)
from mirror.hosting.config import runner_subscription

RESUME_REASON: Final = "operator resume from Streamdesk"
BREAKER_KEY: Final = "circuit-breaker"
UNKNOWN: Final = "…"
_PAUSED_PREFIX: Final = "stream paused:"


@dataclass(frozen=True, slots=True)
class GateView:
    gate: str
    """"Active", "Paused", or "…" while unknown."""
    reason: str
    resume_visible: bool
    breaker_enabled: bool
    breaker_note: str
    """Why the form is disabled; empty when it is enabled."""


def is_paused(state: Mapping[str, Any] | None) -> bool | None:
    """`coreProcessorState.paused` of a runtime state; None when it says nothing."""
    core = (state or {}).get("coreProcessorState")
    if not isinstance(core, Mapping) or not isinstance(core.get("paused"), bool):
        return None
    return bool(core["paused"])


def gate_view(state: Mapping[str, Any] | None, connection: str, *, online: bool) -> GateView:
    if not online:
        return GateView(UNKNOWN, "", False, False, "Offline mirror: the gate needs the server.")
    paused = is_paused(state)
    if paused is None:
        return GateView(UNKNOWN, "", False, False, "Waiting for the stream's state…")
    reason = ""
    if paused:
        core = (state or {}).get("coreProcessorState") or {}
        reason = str(core.get("pauseReason") or "no reason given")
        note = "Limits can only be changed while the gate is active: resume the stream first."
        return GateView("Paused", reason, True, False, note)
    if connection != "subscribed":
        note = f"Limits can only be changed while subscribed (the stream is {connection})."
        return GateView("Active", reason, False, False, note)
    return GateView("Active", reason, False, True, "")


def resume_event(reason: str = RESUME_REASON) -> dict[str, Any]:
    # No idempotency key: resuming again after a later pause must append a new event.
    return {"type": RESUMED, "payload": {"reason": reason}}


def breaker_events(burst_capacity: int, refill_per_minute: float) -> list[dict[str, Any]]:
    """The subscription to the built-in breaker and its limits, both with idempotency keys."""
    return [
        runner_subscription(CircuitBreaker.slug, BREAKER_KEY),
        # A whole rate is sent as an integer: the same limits give the same idempotency key.
        circuit_breaker_configured(burst_capacity, _whole(refill_per_minute)),
    ]


def _whole(value: float) -> float:
    return int(value) if float(value).is_integer() else value


def refusal_text(error: BaseException) -> str:
    """A paused stream's refusal as the server words it; anything else as a failed append."""
    message = str(error)
    start = message.find(_PAUSED_PREFIX)
    if start >= 0:
        return message[start:]
    return f"Append failed: {message}"
