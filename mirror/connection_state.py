"""A runtime's connection state and writer role: enums and their ONE transition table (pure).

Public API:

- ``ConnectionState`` (a ``StrEnum``: each member equals its string, so ``status.connection ==
  "subscribed"`` holds): ``offline``, ``connecting``, ``subscribing``, ``catching-up``,
  ``subscribed``, ``reconnecting``, ``unauthorized`` (the server refused the token; nothing
  dials until ``reconnect()``), ``failed`` (a fault retrying cannot heal, e.g. a mirror file
  damaged again and again; nothing dials until ``reconnect()``), ``closed``.
- ``Role`` (a ``StrEnum``): ``idle``, ``electing``, ``leader``, ``follower``.
- ``next_connection(old, new) -> new`` and ``next_role(old, new) -> new``: ``new`` if the table
  allows it (staying put always is), else ``IllegalTransition``. Every change of a runtime's
  status goes through them (``mirror.status_publisher``), so the tables below are the whole
  story of what can follow what.

Why each edge exists: a leader dials ``connecting`` -> (``catching-up``) -> ``subscribing`` ->
``subscribed`` and drops to ``reconnecting`` (the one reconnect path) or stops at
``unauthorized`` / ``failed`` from any of them. A follower's ``connection`` is its probe of the
server, so it moves between ``connecting``, ``subscribed``, ``reconnecting`` and
``unauthorized`` freely, and back to ``connecting`` when it takes over as leader. ``offline``
(no server) only ever closes, and ``closed`` is final.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class ConnectionState(enum.StrEnum):
    OFFLINE = "offline"
    CONNECTING = "connecting"
    SUBSCRIBING = "subscribing"
    CATCHING_UP = "catching-up"
    SUBSCRIBED = "subscribed"
    RECONNECTING = "reconnecting"
    UNAUTHORIZED = "unauthorized"
    FAILED = "failed"
    CLOSED = "closed"


class Role(enum.StrEnum):
    IDLE = "idle"
    ELECTING = "electing"
    LEADER = "leader"
    FOLLOWER = "follower"


class IllegalTransition(RuntimeError):
    """A state change the transition table does not allow (a bug in the runtime)."""


_C = ConnectionState
_STOPPED = frozenset({_C.UNAUTHORIZED, _C.FAILED, _C.CLOSED})

CONNECTION_TRANSITIONS: Mapping[ConnectionState, frozenset[ConnectionState]] = {
    _C.OFFLINE: frozenset({_C.CLOSED}),
    _C.CONNECTING: frozenset({_C.CATCHING_UP, _C.SUBSCRIBING, _C.SUBSCRIBED, _C.RECONNECTING})
    | _STOPPED,
    _C.CATCHING_UP: frozenset({_C.SUBSCRIBING, _C.RECONNECTING}) | _STOPPED,
    _C.SUBSCRIBING: frozenset({_C.SUBSCRIBED, _C.RECONNECTING}) | _STOPPED,
    # To connecting: a follower (whose probe said subscribed) takes over as leader.
    _C.SUBSCRIBED: frozenset({_C.CONNECTING, _C.RECONNECTING}) | _STOPPED,
    # To subscribed: a follower's probe was answered again.
    _C.RECONNECTING: frozenset({_C.CONNECTING, _C.SUBSCRIBED}) | _STOPPED,
    # Left by ``reconnect()`` (after ``set_token``), or by a follower's probe or takeover.
    _C.UNAUTHORIZED: frozenset({_C.CONNECTING, _C.SUBSCRIBED, _C.RECONNECTING}) | _STOPPED,
    _C.FAILED: frozenset({_C.RECONNECTING}) | _STOPPED,
    _C.CLOSED: frozenset(),
}

ROLE_TRANSITIONS: Mapping[Role, frozenset[Role]] = {
    Role.IDLE: frozenset({Role.ELECTING}),
    Role.ELECTING: frozenset({Role.LEADER, Role.FOLLOWER, Role.IDLE}),
    # A follower keeps trying for the writer lock and takes over when it frees.
    Role.FOLLOWER: frozenset({Role.LEADER, Role.IDLE}),
    Role.LEADER: frozenset({Role.IDLE}),
}


def next_connection(old: ConnectionState, new: ConnectionState) -> ConnectionState:
    if new is not old and new not in CONNECTION_TRANSITIONS[old]:
        raise IllegalTransition(f"connection cannot go from {old} to {new}")
    return new


def next_role(old: Role, new: Role) -> Role:
    if new is not old and new not in ROLE_TRANSITIONS[old]:
        raise IllegalTransition(f"role cannot go from {old} to {new}")
    return new
