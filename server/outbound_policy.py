"""Decisions of the outbound subscriptions (reference server-protocol.md §4.9-§4.10). Pure.

Each configured subscription key has a link to its subscriber, in one `LinkState`:

- IDLE: no connection and nothing in flight (never dialed, or torn down when idle);
- DIALING: the callable was dispatched; the subscriber has not called `subscribeOutbound` yet;
- CONNECTED: a live outbound connection delivers to it;
- WAITING: the last dial or connection failed; a re-dial is due after `redial_delay`.

`plan_reconcile` says which links to close (their key is no longer configured) and which keys to
dial; `TRANSITIONS` is the table every state change is checked against.
"""

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from server.core_state import PREFIX, SUBSCRIPTION_CONFIGURED, WOKEN


class LinkState(enum.Enum):
    IDLE = "idle"
    DIALING = "dialing"
    CONNECTED = "connected"
    WAITING = "waiting"


TRANSITIONS: Final[Mapping[LinkState, frozenset[LinkState]]] = {
    LinkState.IDLE: frozenset({LinkState.DIALING}),
    LinkState.DIALING: frozenset({LinkState.CONNECTED, LinkState.WAITING}),
    # A connection closed by idle teardown goes back to IDLE; a broken one to WAITING; a new
    # configuration for the key dials again while the old connection still delivers.
    LinkState.CONNECTED: frozenset({LinkState.IDLE, LinkState.WAITING, LinkState.DIALING}),
    LinkState.WAITING: frozenset({LinkState.DIALING}),
}

# Disconnect reasons after which the stream dials the subscriber again (after a delay).
REDIAL_REASONS: Final = frozenset({"delivery-failed", "rpc-broken"})

DEFAULT_IDLE_TEARDOWN_MS: Final = 5 * 60 * 1000
IDLE_TEARDOWN_ENV: Final = "STREAM_IDLE_TEARDOWN_MS"
_MAX_REDIAL_DELAY: Final = 30.0


class InvalidTransition(RuntimeError):
    pass


def check_transition(current: LinkState, target: LinkState) -> LinkState:
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(f"outbound link cannot go from {current.value} to {target.value}")
    return target


@dataclass(frozen=True, slots=True)
class LinkView:
    """What reconciliation needs to know of a link."""

    state: LinkState
    config_offset: int
    """The offset of the `subscription-configured` event the link was dialed for."""


@dataclass(frozen=True, slots=True)
class ReconcilePlan:
    close: tuple[str, ...]
    """Keys whose connection closes with `subscription-removed`."""
    dial: tuple[str, ...]
    """Keys to dispatch the callable for, in key order."""


def plan_reconcile(
    configured: Mapping[str, int],
    links: Mapping[str, LinkView],
    *,
    include_waiting: bool,
) -> ReconcilePlan:
    """`configured`: key -> offset of its latest usable configuration.

    A key is dialed when it has no link, an IDLE link, or a link made for an older
    configuration (unless a dial is already in flight). WAITING links are dialed only when
    `include_waiting` (a domain append or the re-dial timer), so a failing subscriber is not
    dialed on every presence fact.
    """
    close = tuple(sorted(key for key, link in links.items() if key not in configured))
    dial: list[str] = []
    for key in sorted(configured):
        link = links.get(key)
        if link is None or link.state is LinkState.IDLE:
            dial.append(key)
        elif link.state is LinkState.DIALING:
            continue
        else:
            reconfigured = link.config_offset != configured[key]
            if reconfigured or (link.state is LinkState.WAITING and include_waiting):
                dial.append(key)
    return ReconcilePlan(close, tuple(dial))


class Trigger(enum.Enum):
    RECONCILE = "reconcile"
    """Dial keys with no connection; leave failed (WAITING) links to their timer."""
    REDIAL = "redial"
    """Also re-dial failed links at once."""


def reconcile_trigger(event_type: str) -> Trigger | None:
    """What a committed event of this type sets off: `subscription-configured` reconciles;
    `woken` (a new incarnation) and any domain (non-core) append also re-dial failed links.
    Presence facts and the other core events do nothing, so closing a connection never dials."""
    if event_type == SUBSCRIPTION_CONFIGURED:
        return Trigger.RECONCILE
    if event_type == WOKEN or not event_type.startswith(PREFIX):
        return Trigger.REDIAL
    return None


def redial_delay(failures: int) -> float:
    """Seconds before re-dialing after `failures` consecutive failures (>= 1): at once after
    the first, then 0.25 s doubling, at most 30 s."""
    if failures <= 1:
        return 0.0
    return float(min(_MAX_REDIAL_DELAY, 0.25 * 2 ** min(failures - 2, 7)))


def idle_teardown_seconds(env: Mapping[str, str]) -> float:
    """`STREAM_IDLE_TEARDOWN_MS` (a positive integer) or the 5 minute default, in seconds."""
    raw = env.get(IDLE_TEARDOWN_ENV, "").strip()
    try:
        value = int(raw) if raw else DEFAULT_IDLE_TEARDOWN_MS
    except ValueError:
        value = DEFAULT_IDLE_TEARDOWN_MS
    return (value if value > 0 else DEFAULT_IDLE_TEARDOWN_MS) / 1000.0
