"""``Leader``: the writing side of a runtime: the reconnect path, the ingest and damage healing.

Public API:

- ``Leader(*, name, timing, subscription_key, loop, publisher, files, calls, spawn, shielded,
  is_closed)``: created by every online ``StreamRuntime``; it acts only while the runtime's
  role is ``leader`` (``may_dial``).
  - ``start()``: run the single writer loop (``IngestQueue.run``) and the search indexing in
    the writer's idle time (``mirror.search.background``), and dial.
  - ``schedule_reconnect(error, delay)``: THE reconnect path: drop the connection (supersede
    it, forget what it queued) and arm the one dial timer, no earlier than a pending ingest
    backoff ends; ``reconnect_history`` records each call. ``reconnect()`` (asked by the user:
    forgets the damage count and dials at once).
  - ``await control(method)``: ``kill`` / ``reset`` over HTTP, then dial again at once (the
    socket the server closes meanwhile is expected: not reported as an error).
  - ``await clear()``: discard the mirror and mirror again from the start.
  - ``await nudge(appended_offset)``: after an append of this process, check the subscription
    at once (``mirror.nudge``) and resubscribe if it went stale, instead of waiting for the
    liveness probe.
  - The ``ConnectionHost`` members (``mirror.connection``): ``prepare`` (the leader's steps
    before it subscribes, ``mirror.leader_dial``), ``subscribed``, ``deliver`` (into the
    ``IngestQueue``; a full backlog drops the socket), and what a dial reports back
    (``subscription_closed``, ``stream_was_reset``, ``unauthorized``, ``write_failed``,
    ``heal_damage``). ``heal_damage(message)`` is also where any damage a read or the
    quick_check found goes.

A refused token and damage that keeps coming back stop the dialling (``unauthorized``,
``failed``) until ``reconnect()``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from mirror.backoff import ReconnectCause, reconnect_delay
from mirror.connection import Connection
from mirror.connection_state import ConnectionState, Role
from mirror.ingest_queue import IngestQueue, Target
from mirror.integrity import is_damage
from mirror.leader_dial import SUBSCRIBER, prepare_mirror
from mirror.nudge import nudge_after_append
from mirror.processors import IncarnationMismatch, MirrorWriter
from mirror.redial import Redialer
from mirror.runtime_status import ReconnectRecord, RuntimeStatus, RuntimeTiming
from mirror.search.background import BackgroundIndexing
from mirror.search.indexer import set_search_enabled
from mirror.server_calls import ServerCalls
from mirror.shielded import Shielded
from mirror.status_publisher import StatusPublisher
from mirror.types import Events
from mirror.writer_file import DamageVerdict, WriterFile, describe
from wire.stream_client import AuthError

log = logging.getLogger(__name__)

T = TypeVar("T")
_C = ConnectionState


class Leader:
    subscriber: dict[str, str] | None = SUBSCRIBER

    def __init__(
        self,
        *,
        name: str,
        timing: RuntimeTiming,
        subscription_key: str,
        loop: asyncio.AbstractEventLoop,
        publisher: StatusPublisher,
        files: WriterFile,
        calls: ServerCalls,
        spawn: Callable[[Awaitable[Any], str], asyncio.Task[Any]],
        shielded: Shielded,
        is_closed: Callable[[], bool],
    ) -> None:
        self.timing = timing
        self.subscription_key = subscription_key
        self.publisher = publisher
        self.files = files
        self.ingest = IngestQueue(
            loop=loop,
            max_transaction_events=timing.max_transaction_events,
            backlog_limit=timing.live_backlog_limit,
        )
        self.redial = Redialer(loop, self._dial, may_dial=self._may_dial)
        # Every reconnect asked for (reason, delay asked, wait armed): for diagnostics and tests.
        self.reconnect_history: deque[ReconnectRecord] = deque(maxlen=256)
        self._name = name
        self._loop = loop
        self._calls = calls
        self._spawn = spawn
        self._shielded = shielded
        self._is_closed = is_closed
        self._control_epoch: int | None = None
        self.indexing = BackgroundIndexing(
            writer=lambda: self.files.writer,
            is_idle=self._idle,
            on_damage=self.heal_damage,
            guarded=self.guarded,
        )

    def __repr__(self) -> str:
        return self._name

    def spawn(self, work: Awaitable[T], name: str) -> asyncio.Task[T]:
        task: asyncio.Task[T] = self._spawn(work, name)
        return task

    async def guarded(self, work: Awaitable[T]) -> T:
        """Run a mirror write to completion even if the caller is cancelled."""
        return await self._shielded.run(work)

    def start(self) -> list[asyncio.Task[None]]:
        """The writer loop and the search indexing in its idle time (the caller owns both
        tasks), and the first dial."""
        writes = self.ingest.run(self._ingest_target, self._write, self._ingest_failed, self._wrote)
        tasks: list[asyncio.Task[None]] = [
            self._spawn(writes, "mirror writer"),
            self._spawn(self.indexing.run(), "search indexing"),
        ]
        self.publisher.add_listener(self._on_status)
        self.redial.dial_now()
        return tasks

    def _on_status(self, status: RuntimeStatus) -> None:
        if status.connection is _C.SUBSCRIBED:
            self.indexing.poke()

    def _idle(self) -> bool:
        """Subscribed with nothing waiting to be written: time the search index may use."""
        return (
            not self._is_closed()
            and self.publisher.status.connection is _C.SUBSCRIBED
            and self.ingest.pending_events == 0
        )

    def _may_dial(self) -> bool:
        return not self._is_closed() and self.publisher.status.role is Role.LEADER

    def _dial(self, epoch: int) -> Connection:
        self.publisher.set(connection=_C.CONNECTING, catchup=None)
        return Connection(self, epoch, self._calls.client())

    async def prepare(self, connection: Connection, incarnation: str, head: int) -> int | None:
        return await prepare_mirror(self, connection, incarnation, head)

    def subscribed(self) -> None:
        self.publisher.set(connection=_C.SUBSCRIBED, catchup=None, last_error=None)

    def deliver(self, epoch: int, incarnation: str, events: Events) -> None:
        if not self.ingest.put(epoch, incarnation, events):
            self.backlog_full(self.ingest.pending_events)

    def schedule_reconnect(self, error: str, delay: float) -> None:
        """Drop the connection and dial again after ``delay`` s (never before a pending
        ingest backoff ends). The one path that redials."""
        self._reconnect(error, delay, is_error=True)

    def reconnect(self) -> None:
        """Drop the current connection and dial again now (a no-op unless this process
        writes the mirror)."""
        self.files.healed()
        self._reconnect("reconnect requested", 0.0, is_error=False)

    def _reconnect(self, reason: str, delay: float, *, is_error: bool) -> None:
        if self._is_closed() or self.publisher.status.role is not Role.LEADER:
            return
        self._drop_connection()
        now = self._loop.time()
        when = max(now + delay, self.ingest.not_before)
        self.redial.arm(when)
        self.reconnect_history.append(ReconnectRecord(reason, delay, when - now))
        log.info("%s: %s; dialling again in %.2f s", self, reason, when - now)
        changes: dict[str, Any] = {"connection": _C.RECONNECTING, "catchup": None}
        if is_error:
            changes["last_error"] = reason
        self.publisher.set(**changes)

    def _drop_connection(self) -> None:
        self.redial.supersede()
        self.ingest.clear()

    def _stop_dialling(self, reason: str, connection: ConnectionState) -> None:
        """A fault retrying cannot heal: nothing dials again until ``reconnect()``."""
        self._drop_connection()
        self.redial.disarm()
        if connection is _C.FAILED:
            log.error("%s: %s; not dialling again until asked", self, reason)
        self.publisher.set(connection=connection, catchup=None, last_error=reason)

    def unauthorized(self, error: AuthError) -> None:
        """The server refused our token: retrying a refused token cannot succeed."""
        log.warning("%s: the server refused the token; not dialling again until asked", self)
        self._stop_dialling(describe(error), _C.UNAUTHORIZED)

    def subscription_closed(self, epoch: int, reason: str) -> None:
        # After a kill/reset this client sent, the server closing the socket is expected.
        self._reconnect(
            f"connection closed: {reason}",
            reconnect_delay(ReconnectCause.CLOSED),
            is_error=epoch != self._control_epoch,
        )

    def backlog_full(self, pending: int) -> None:
        self._reconnect(
            f"{pending} delivered events are waiting to be written; paging history instead",
            0.0,
            is_error=False,
        )

    def stream_was_reset(self, reason: str) -> None:
        """The server's stream is another incarnation than the mirror's: dial again now; the
        dial's reconcile archives the old mirror and mirrors the new incarnation."""
        log.warning("%s: %s", self, reason)
        self._reconnect(reason, 0.0, is_error=False)

    def _ingest_target(self) -> Target:
        connection = self.redial.connection
        incarnation = connection.incarnation if isinstance(connection, Connection) else None
        return self.redial.epoch, incarnation, self.files.writer

    async def _write(self, writer: MirrorWriter, events: Events, incarnation: str) -> int:
        return await self.guarded(writer.ingest(events, incarnation=incarnation))

    def _ingest_failed(self, epoch: int, error: Exception) -> None:
        if self.redial.is_current(epoch):
            self.write_failed(error)

    def _wrote(self) -> None:
        self.files.healed()
        self.indexing.poke()

    def write_failed(self, error: BaseException) -> None:
        """A write into the mirror failed: heal what retrying cannot, back off otherwise."""
        if isinstance(error, IncarnationMismatch):
            self.stream_was_reset(str(error))
        elif is_damage(error):
            self.heal_damage(describe(error))
        else:
            delay = self.ingest.backoff_failure()
            log.warning(
                "%s: mirror ingest failed (%d in a row): %s",
                self,
                self.ingest.failures,
                describe(error),
            )
            self.schedule_reconnect(f"mirror ingest failed: {describe(error)}", delay)

    def heal_damage(self, message: str) -> None:
        """Move the damaged file aside and mirror again (in the next dial); retrying the same
        file could never heal it. Damage that keeps coming back stops the dialling."""
        verdict = self.files.note_damage(message)
        if verdict is DamageVerdict.STOP:
            self._stop_dialling(
                f"the local mirror keeps getting damaged ({message}); check the disk, then "
                "reconnect",
                _C.FAILED,
            )
        elif verdict is DamageVerdict.HEAL:
            log.warning("%s: the mirror file is damaged: %s", self, message)
            self.schedule_reconnect(f"the local mirror file is damaged ({message})", 0.0)

    async def nudge(self, appended_offset: int) -> None:
        """After an append of our own reached ``appended_offset``: check the subscription
        instead of waiting for the liveness probe (``mirror.nudge``)."""
        connection, epoch = self.redial.connection, self.redial.epoch
        if not isinstance(connection, Connection) or connection.incarnation is None:
            return

        async def server_state() -> dict[str, Any]:
            async with asyncio.timeout(self.timing.probe_deadline):
                state = await self._calls.runtime_state()
            return dict(state["coreProcessorState"])

        def resubscribe() -> None:
            if self.redial.is_current(epoch):
                self._reconnect(
                    f"nudge: offset {appended_offset} was appended here but not delivered",
                    reconnect_delay(ReconnectCause.NUDGE),
                    is_error=False,
                )

        await nudge_after_append(
            appended_offset=appended_offset,
            delivered_offset=lambda: connection.delivered_offset,
            server_state=server_state,
            incarnation=connection.incarnation,
            resubscribe=resubscribe,
            subscribed=self.publisher.status.connection is _C.SUBSCRIBED,
        )

    async def control(self, method: str) -> None:
        """``kill`` or ``reset`` the stream, then dial again at once."""
        client = self._calls.client()
        # The subscription stays up (a kill drops it without presence facts, as in the
        # reference), so the server closing it meanwhile is expected, not an error.
        self._control_epoch = self.redial.epoch
        try:
            await (client.kill() if method == "kill" else client.reset())
        finally:
            self._control_epoch = None
        self._reconnect(
            f"{method} requested", reconnect_delay(ReconnectCause.CONTROL_CALL), is_error=False
        )

    async def set_search_index(self, enabled: bool) -> None:
        """Turn the mirror's search index on or off (off drops it; on builds it again in the
        writer's idle time)."""
        writer = await self.files.open()
        async with writer.raw.lock, writer.feed.lock:
            await self.guarded(asyncio.to_thread(set_search_enabled, writer.db, enabled))
        self.indexing.poke()

    async def clear(self) -> None:
        # The dial may not have opened the writer yet; this process holds the lock.
        writer = await self.files.open()
        self._reconnect("local mirror cleared", 0.0, is_error=False)
        await self.guarded(writer.discard())
        self.publisher.cleared()
