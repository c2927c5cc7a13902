"""What the leader does in a dial before it subscribes: open, quarantine, reconcile, catch up.

Public API:

- ``LeaderDialHost``: what these steps need of the leader (the protocol below).
- ``await prepare_mirror(host, connection, incarnation, head) -> int | None``: the leader's
  ``ConnectionHost.prepare`` (``mirror.connection``): open the mirror (quarantining it first if
  damage is pending), reconcile it with the server's ``incarnation`` and ``head`` (step
  deadline; a new incarnation archives the old mirror and reconciles a fresh one), catch up by
  paging when more than ``catchup_threshold`` events behind (``mirror.catchup``); returns the
  checkpoint to subscribe after. None ends the dial: it was superseded, or its fault went
  through the connection's gate to the leader (a failed catch-up write to ``write_failed``, a
  page of another incarnation to ``stream_was_reset``, damage to ``heal_damage``). Any other
  failure propagates to the connection, which reports it as "<stage> failed".
- ``fetch_page(client, incarnation, after, limit)``: a page of history proven to be of
  ``incarnation`` (the stream's state read in the same HTTP batch, after the page).
- ``SUBSCRIBER``: how the leader's subscription describes itself to the server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from functools import partial
from typing import Protocol, TypeVar

from mirror.backoff import ReconnectCause
from mirror.catchup import CatchupWriteError, catch_up
from mirror.connection import Connection
from mirror.connection_state import ConnectionState
from mirror.integrity import is_damage
from mirror.processors import IncarnationMismatch, MirrorWriter
from mirror.processors.mirror_writer import WriterPlan
from mirror.reconcile import ReconcileAction
from mirror.runtime_status import CatchupProgress, RuntimeTiming
from mirror.status_publisher import StatusPublisher
from mirror.types import Events
from mirror.writer_file import WriterFile, describe
from wire.stream_client import StreamClient

log = logging.getLogger(__name__)

T = TypeVar("T")
SUBSCRIBER = {"description": "streamdesk"}


class LeaderDialHost(Protocol):
    @property
    def timing(self) -> RuntimeTiming: ...
    @property
    def files(self) -> WriterFile: ...
    @property
    def publisher(self) -> StatusPublisher: ...

    async def guarded(self, work: Awaitable[T]) -> T: ...
    def write_failed(self, error: BaseException) -> None: ...
    def stream_was_reset(self, reason: str) -> None: ...
    def heal_damage(self, message: str) -> None: ...


async def fetch_page(client: StreamClient, incarnation: str, after: int, limit: int) -> Events:
    page, core = await client.get_events_with_state(after, limit)
    created_at = core.get("createdAt")
    if created_at != incarnation:
        raise IncarnationMismatch(
            f"the stream was reset during catch-up (incarnation {incarnation} -> {created_at})"
        )
    return page


async def prepare_mirror(
    host: LeaderDialHost, connection: Connection, incarnation: str, head: int
) -> int | None:
    try:
        return await _prepare(host, connection, incarnation, head)
    except CatchupWriteError as error:
        connection.if_current(host.write_failed, error.__cause__ or error)
    except IncarnationMismatch as error:
        connection.if_current(host.stream_was_reset, str(error))
    except Exception as error:
        if not is_damage(error):
            raise
        connection.if_current(host.heal_damage, describe(error))
    return None


async def _prepare(
    host: LeaderDialHost, connection: Connection, incarnation: str, head: int
) -> int | None:
    timing = host.timing
    connection.at("open mirror", ReconnectCause.CONNECT_FAILED)
    writer = await host.files.open()
    writer = await host.files.quarantine_if_damaged(writer)
    connection.at("reconcile", ReconnectCause.SUBSCRIBE_FAILED)
    reconciled = await _reconcile(host, connection, writer, incarnation, head)
    if reconciled is None:
        return None
    writer = reconciled
    checkpoint = await host.guarded(writer.checkpoint())
    if not connection.current:
        return None
    if head - checkpoint > timing.catchup_threshold:
        connection.at("catch-up", ReconnectCause.SUBSCRIBE_FAILED)
        checkpoint = await _catch_up(host, connection, writer, incarnation, checkpoint, head)
        if not connection.current:
            return None
        host.files.healed()
    host.publisher.set(connection=ConnectionState.SUBSCRIBING, catchup=None)
    return checkpoint


async def _reconcile(
    host: LeaderDialHost,
    connection: Connection,
    writer: MirrorWriter,
    incarnation: str,
    head: int,
) -> MirrorWriter | None:
    deadline = host.timing.step_deadline
    async with asyncio.timeout(deadline):
        decision = await host.guarded(writer.reconcile(incarnation, head))
    if decision.action is ReconcileAction.DISCARD_AND_REBUILD:
        log.warning("%s: rebuilding the local mirror: %s", host, decision.reason)
        writer = await host.files.rebuild(decision.reason)
        async with asyncio.timeout(deadline):
            await host.guarded(writer.reconcile(incarnation, head))
        if not connection.current:
            return None
    return writer


async def _plan_page(
    writer: MirrorWriter, incarnation: str, events: Events, after: WriterPlan | None
) -> WriterPlan:
    return await writer.plan(events, after, incarnation=incarnation)


async def _catch_up(
    host: LeaderDialHost,
    connection: Connection,
    writer: MirrorWriter,
    incarnation: str,
    checkpoint: int,
    head: int,
) -> int:
    timing = host.timing
    host.publisher.set(
        connection=ConnectionState.CATCHING_UP,
        catchup=CatchupProgress(checkpoint, head, 0.0),
    )

    def progress(done: CatchupProgress) -> None:
        host.publisher.set(catchup=done)

    return await catch_up(
        partial(fetch_page, connection.client, incarnation),
        partial(_plan_page, writer, incarnation),
        lambda plan: host.guarded(writer.write(plan)),
        after=checkpoint,
        total=head,
        page_size=timing.catchup_page,
        deadline=timing.step_deadline,
        on_progress=partial(connection.if_current, progress),
        clock=asyncio.get_running_loop().time,
    )
