"""The connection/role transition tables: what may follow what, and what raises."""

from __future__ import annotations

import asyncio

import pytest

from mirror.connection_state import (
    CONNECTION_TRANSITIONS,
    ROLE_TRANSITIONS,
    ConnectionState,
    IllegalTransition,
    Role,
    next_connection,
    next_role,
)
from mirror.runtime_status import RuntimeStatus
from mirror.status_publisher import StatusPublisher

C = ConnectionState


def test_every_state_has_a_row_and_closed_is_final() -> None:
    assert set(CONNECTION_TRANSITIONS) == set(ConnectionState)
    assert set(ROLE_TRANSITIONS) == set(Role)
    assert CONNECTION_TRANSITIONS[C.CLOSED] == frozenset()
    for state in ConnectionState:
        if state is not C.CLOSED:
            assert C.CLOSED in CONNECTION_TRANSITIONS[state], state


def test_states_equal_their_strings() -> None:
    as_strings: list[str] = [C.SUBSCRIBED, C.CATCHING_UP, Role.LEADER]
    assert as_strings == ["subscribed", "catching-up", "leader"]
    assert f"{Role.FOLLOWER}" == "follower"
    assert RuntimeStatus(C.SUBSCRIBED, Role.LEADER).connection in {"subscribed"}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (C.CONNECTING, C.CATCHING_UP),
        (C.CATCHING_UP, C.SUBSCRIBING),
        (C.SUBSCRIBING, C.SUBSCRIBED),
        (C.SUBSCRIBED, C.RECONNECTING),
        (C.RECONNECTING, C.CONNECTING),
        (C.SUBSCRIBED, C.UNAUTHORIZED),
        (C.UNAUTHORIZED, C.RECONNECTING),
        (C.FAILED, C.RECONNECTING),
        (C.SUBSCRIBED, C.SUBSCRIBED),
    ],
)
def test_legal_connection_transitions(old: ConnectionState, new: ConnectionState) -> None:
    assert next_connection(old, new) is new


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (C.CLOSED, C.CONNECTING),
        (C.OFFLINE, C.CONNECTING),
        (C.OFFLINE, C.SUBSCRIBED),
        (C.CONNECTING, C.OFFLINE),
        (C.SUBSCRIBED, C.CATCHING_UP),
        (C.SUBSCRIBED, C.SUBSCRIBING),
        (C.RECONNECTING, C.SUBSCRIBING),
        (C.FAILED, C.SUBSCRIBED),
    ],
)
def test_illegal_connection_transitions_raise(old: ConnectionState, new: ConnectionState) -> None:
    with pytest.raises(IllegalTransition, match=f"from {old} to {new}"):
        next_connection(old, new)


def test_role_transitions() -> None:
    assert next_role(Role.IDLE, Role.ELECTING) is Role.ELECTING
    assert next_role(Role.FOLLOWER, Role.LEADER) is Role.LEADER
    assert next_role(Role.LEADER, Role.IDLE) is Role.IDLE
    for old, new in [(Role.LEADER, Role.FOLLOWER), (Role.IDLE, Role.LEADER)]:
        with pytest.raises(IllegalTransition):
            next_role(old, new)


async def test_the_publisher_refuses_an_illegal_change_and_keeps_the_status() -> None:
    publisher = StatusPublisher(
        RuntimeStatus(C.CONNECTING, Role.IDLE), loop=asyncio.get_running_loop(), coalesce=0.0
    )
    seen: list[RuntimeStatus] = []
    publisher.add_listener(seen.append)
    publisher.set(role=Role.ELECTING, event_count=3)
    with pytest.raises(IllegalTransition):
        publisher.set(connection=C.OFFLINE, event_count=4)
    assert publisher.status == RuntimeStatus(C.CONNECTING, Role.ELECTING, event_count=3)
    await asyncio.sleep(0)
    assert seen == [publisher.status]
    publisher.close()
    publisher.set(connection=C.CLOSED)
    await asyncio.sleep(0)
    assert [s.connection for s in seen] == [C.CONNECTING, C.CONNECTING]
