"""Planning an append batch (reference §3.1), as a pure function of the state and the inputs.

For each validated input, in order: an idempotency hit (earlier in the batch, then in storage)
returns the original event in that position and skips the rest (so the check comes before the
pause gate); otherwise the pause gate, the offset precondition, the committed event (input +
`offset` + `createdAt`), its JSON bytes and the core reducer. Any refusal raises and nothing of
the batch is kept; the caller commits the plan in one transaction.

A new `subscription-configured` must name a callable this server can reach (`server.callables`).
The reducer does not check that, so a log written before the rule still loads (the outbound
manager skips such configs).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from server.callables import CallableError, parse_callable
from server.core_state import (
    SUBSCRIPTION_CONFIGURED,
    CoreState,
    apply_event,
    check_append_allowed,
)
from server.errors import StreamRequestError
from server.event_json import event_bytes
from server.types import Event


@dataclass(frozen=True, slots=True)
class AppendPlan:
    results: list[Event]
    """One committed event per input, in input order (hits are the original events)."""
    new_events: list[Event]
    """The events to write, ascending and gap-free after the state's `maxOffset`."""
    encoded: list[bytes]
    """The JSON bytes of each new event."""
    state: CoreState
    """The core state after the new events."""


def plan_append(
    state: CoreState,
    items: list[Event],
    *,
    stored_by_key: Callable[[str], Event | None],
    created_at: str,
) -> AppendPlan:
    """Plan the batch `items` (already validated inputs) on top of `state`."""
    working = dict(state)
    results: list[Event] = []
    new_events: list[Event] = []
    encoded: list[bytes] = []
    batch_keys: dict[str, Event] = {}
    for item in items:
        key = item.get("idempotencyKey")
        precondition = item.get("offset")
        if key is not None:
            existing = batch_keys.get(key) or stored_by_key(key)
            if existing is not None:
                if precondition is not None and precondition != existing["offset"]:
                    raise StreamRequestError(
                        f"idempotency hit at offset {existing['offset']}, got {precondition}"
                    )
                results.append(existing)
                continue
        check_append_allowed(working, item["type"])
        offset = working["maxOffset"] + 1
        if precondition is not None and precondition != offset:
            raise StreamRequestError(f"expected offset {offset}, got {precondition}")
        committed = dict(item)
        committed["offset"] = offset
        committed["createdAt"] = created_at
        data, committed = event_bytes(committed)
        apply_event(working, committed)
        if committed["type"] == SUBSCRIPTION_CONFIGURED:
            _check_callable(committed["payload"])
        if key is not None:
            batch_keys[key] = committed
        new_events.append(committed)
        encoded.append(data)
        results.append(committed)
    return AppendPlan(results, new_events, encoded, working)


def _check_callable(payload: dict[str, Any]) -> None:
    # Runs after the reducer's own checks, so the payload and its subscriber are objects here.
    try:
        parse_callable(payload["subscriber"].get("callable"))
    except CallableError as exc:
        raise StreamRequestError(f"invalid {SUBSCRIPTION_CONFIGURED} payload: {exc}") from None
