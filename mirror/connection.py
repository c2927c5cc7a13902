"""``Connection``: ONE dial of the leader: its steps, subscription, deliveries and liveness probe.

Public API:

- ``ConnectionHost``: what a connection needs of its runtime (the protocol below).
- ``Connection(host, epoch, client)``: created by the runtime's ``Redialer`` for each dial and
  started at once; ``cancel()`` supersedes it (the dial and the probe are cancelled, the
  subscription is closed in the background). ``current``: whether it is still the runtime's
  connection (``Redialer.is_current(epoch)``); every result, close, delivery and answer goes
  through that one check before it may touch the runtime, so a late one is dropped.
- ``fetch_page(client, incarnation, after, limit)``: a page of history proven to be of
  ``incarnation`` (the stream's state read in the same HTTP batch, after the page).

A dial: ``runtimeState`` (step deadline; first, so a server never reached leaves no mirror
file), open the mirror (quarantining it first if damage is pending), reconcile (step deadline;
a new incarnation archives the old mirror and reconciles a fresh one), catch up by paging when
more than ``catchup_threshold`` events behind (``mirror.catchup``), subscribe from the
checkpoint (step deadline), then probe every
``probe_interval``: ``probe_misses`` unanswered probes in a row, a changed incarnation or a
stalled subscription (the server is ahead and nothing was delivered since the last probe) drop
the connection. Each delivery must carry the mirror's incarnation in ``batch.state.createdAt``
or nothing of it is queued and the runtime dials again at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol, TypeVar

from mirror.backoff import ReconnectCause, reconnect_delay
from mirror.catchup import CatchupWriteError, catch_up
from mirror.connection_state import ConnectionState
from mirror.ingest_queue import IngestQueue
from mirror.integrity import is_damage
from mirror.processors import IncarnationMismatch, MirrorWriter
from mirror.processors.mirror_writer import WriterPlan
from mirror.reconcile import ReconcileAction
from mirror.redial import Redialer, close_subscription
from mirror.runtime_status import CatchupProgress, RuntimeTiming
from mirror.status_publisher import StatusPublisher
from mirror.types import Delivery, Events
from mirror.writer_file import WriterFile, describe
from wire.stream_client import AuthError, StreamClient, Subscription

log = logging.getLogger(__name__)

T = TypeVar("T")
SUBSCRIBER = {"description": "streamdesk"}


class ConnectionHost(Protocol):
    timing: RuntimeTiming
    subscription_key: str
    files: WriterFile
    publisher: StatusPublisher
    ingest: IngestQueue
    redial: Redialer

    def spawn(self, work: Awaitable[T], name: str) -> asyncio.Task[T]: ...
    async def guarded(self, work: Awaitable[T]) -> T: ...
    def schedule_reconnect(self, error: str, delay: float) -> None: ...
    def subscription_closed(self, epoch: int, reason: str) -> None: ...
    def backlog_full(self, pending: int) -> None: ...
    def stream_was_reset(self, reason: str) -> None: ...
    def unauthorized(self, error: AuthError) -> None: ...
    def write_failed(self, error: BaseException) -> None: ...
    def heal_damage(self, message: str) -> None: ...


async def fetch_page(client: StreamClient, incarnation: str, after: int, limit: int) -> Events:
    page, core = await client.get_events_with_state(after, limit)
    created_at = core.get("createdAt")
    if created_at != incarnation:
        raise IncarnationMismatch(
            f"the stream was reset during catch-up (incarnation {incarnation} -> {created_at})"
        )
    return page


async def _plan_page(
    writer: MirrorWriter, incarnation: str, events: Events, after: WriterPlan | None
) -> WriterPlan:
    return await writer.plan(events, after, incarnation=incarnation)


class Connection:
    def __init__(self, host: ConnectionHost, epoch: int, client: StreamClient) -> None:
        self.epoch = epoch
        # The incarnation this dial proved the server holds (None until reconcile).
        self.incarnation: str | None = None
        self._host = host
        self._client = client
        self._subscription: Subscription | None = None
        self._last_delivered = 0
        self._deliveries = 0
        self._probe: asyncio.Task[None] | None = None
        self._dial = host.spawn(self._run(), "dial")

    @property
    def current(self) -> bool:
        return self._host.redial.is_current(self.epoch)

    def _if_current(self, react: Callable[..., None], *args: Any) -> None:
        """The one gate between this dial's results and the runtime."""
        if self.current:
            react(*args)

    @property
    def delivered_offset(self) -> int:
        """The highest offset the subscription delivered (or reported as its head)."""
        return self._last_delivered

    def cancel(self) -> None:
        for task in (self._dial, self._probe):
            if task is not None and task is not asyncio.current_task() and not task.done():
                task.cancel()
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            self._host.spawn(
                close_subscription(subscription, self._host.timing.unsubscribe_deadline),
                "unsubscribe",
            )

    async def _run(self) -> None:
        host, timing = self._host, self._host.timing
        stage = "connect"
        try:
            # The server first: a connection that never succeeds leaves no empty mirror behind.
            async with asyncio.timeout(timing.step_deadline):
                state = await self._client.runtime_state()
            core = state["coreProcessorState"]
            created_at, server_max = str(core["createdAt"]), int(core["maxOffset"])
            if not self.current:
                return
            stage = "open mirror"
            writer = await host.files.open()
            writer = await host.files.quarantine_if_damaged(writer)
            stage = "reconcile"
            reconciled = await self._reconcile(writer, created_at, server_max)
            if reconciled is None:
                return
            writer = reconciled
            self.incarnation = created_at
            checkpoint = await host.guarded(writer.checkpoint())
            if not self.current:
                return
            if server_max - checkpoint > timing.catchup_threshold:
                stage = "catch-up"
                checkpoint = await self._catch_up(writer, created_at, checkpoint, server_max)
                if not self.current:
                    return
                host.files.healed()
            stage = "subscribe"
            host.publisher.set(connection=ConnectionState.SUBSCRIBING, catchup=None)
            self._last_delivered = checkpoint
            async with asyncio.timeout(timing.step_deadline):
                subscription = await self._client.subscribe(
                    self._on_batch,
                    replay_after_offset=checkpoint,
                    subscription_key=host.subscription_key,
                    subscriber=SUBSCRIBER,
                )
        except CatchupWriteError as error:
            self._if_current(host.write_failed, error.__cause__ or error)
            return
        except IncarnationMismatch as error:
            self._if_current(host.stream_was_reset, str(error))
            return
        except AuthError as error:
            self._if_current(host.unauthorized, error)
            return
        except Exception as error:
            if is_damage(error):
                self._if_current(host.heal_damage, describe(error))
                return
            cause = (
                ReconnectCause.CONNECT_FAILED
                if stage in ("open mirror", "connect")
                else ReconnectCause.SUBSCRIBE_FAILED
            )
            self._if_current(
                host.schedule_reconnect,
                f"{stage} failed: {describe(error)}",
                reconnect_delay(cause),
            )
            return
        if not self.current:
            host.spawn(close_subscription(subscription, timing.unsubscribe_deadline), "unsubscribe")
            return
        self._subscription = subscription
        host.publisher.set(connection=ConnectionState.SUBSCRIBED, catchup=None, last_error=None)
        subscription.closed.add_done_callback(self._on_closed)
        self._probe = host.spawn(self._run_probe(), "liveness probe")

    async def _reconcile(
        self, writer: MirrorWriter, created_at: str, server_max: int
    ) -> MirrorWriter | None:
        host, deadline = self._host, self._host.timing.step_deadline
        async with asyncio.timeout(deadline):
            decision = await host.guarded(writer.reconcile(created_at, server_max))
        if decision.action is ReconcileAction.DISCARD_AND_REBUILD:
            log.warning("%s: rebuilding the local mirror: %s", host, decision.reason)
            writer = await host.files.rebuild(decision.reason)
            async with asyncio.timeout(deadline):
                await host.guarded(writer.reconcile(created_at, server_max))
            if not self.current:
                return None
        return writer

    async def _catch_up(
        self, writer: MirrorWriter, created_at: str, checkpoint: int, server_max: int
    ) -> int:
        host, timing = self._host, self._host.timing
        host.publisher.set(
            connection=ConnectionState.CATCHING_UP,
            catchup=CatchupProgress(checkpoint, server_max, 0.0),
        )
        return await catch_up(
            partial(fetch_page, self._client, created_at),
            partial(_plan_page, writer, created_at),
            lambda plan: host.guarded(writer.write(plan)),
            after=checkpoint,
            total=server_max,
            page_size=timing.catchup_page,
            deadline=timing.step_deadline,
            on_progress=partial(self._if_current, self._progress),
            clock=asyncio.get_running_loop().time,
        )

    def _progress(self, progress: CatchupProgress) -> None:
        self._host.publisher.set(catchup=progress)

    def _on_closed(self, closed: asyncio.Future[BaseException]) -> None:
        reason = "closed" if closed.cancelled() else describe(closed.result())
        self._if_current(self._host.subscription_closed, self.epoch, reason)

    def _on_batch(self, batch: Delivery) -> None:
        if self.current:
            self._deliver(batch)

    def _deliver(self, batch: Delivery) -> None:
        host = self._host
        self._deliveries += 1
        state = batch.get("state")
        created_at = state.get("createdAt") if isinstance(state, dict) else None
        if created_at != self.incarnation or self.incarnation is None:
            # Nothing of a batch that cannot be proven to be of this mirror's incarnation.
            host.stream_was_reset(
                f"a delivery came from incarnation {created_at}, the mirror holds "
                f"{self.incarnation}"
            )
            return
        events = batch.get("events") or []
        if events:
            self._last_delivered = max(self._last_delivered, int(events[-1]["offset"]))
            if not host.ingest.put(self.epoch, str(created_at), events):
                host.backlog_full(host.ingest.pending_events)
        else:
            max_offset = batch.get("streamMaxOffset")
            if isinstance(max_offset, int):
                self._last_delivered = max(self._last_delivered, max_offset)

    async def _run_probe(self) -> None:
        timing = self._host.timing
        probe_delay = reconnect_delay(ReconnectCause.PROBE_FAILED)
        misses = 0
        seen = self._deliveries
        while True:
            await asyncio.sleep(timing.probe_interval)
            if not self.current:
                return
            try:
                async with asyncio.timeout(timing.probe_deadline):
                    state = await self._client.runtime_state()
            except TimeoutError:
                misses += 1
                if misses >= timing.probe_misses:
                    self._if_current(
                        self._host.schedule_reconnect,
                        f"liveness probe failed: no answer within {timing.probe_deadline:g} s, "
                        f"{misses} times in a row",
                        probe_delay,
                    )
                    return
                continue
            except Exception as error:
                self._if_current(
                    self._host.schedule_reconnect,
                    f"liveness probe failed: {describe(error)}",
                    probe_delay,
                )
                return
            misses = 0
            if not self._probe_answered(state.get("coreProcessorState") or {}, seen):
                return
            seen = self._deliveries

    def _probe_answered(self, core: dict[str, Any], seen: int) -> bool:
        """False once the answer dropped the connection (new incarnation, stalled delivery)."""
        if not self.current:
            return False
        if core.get("createdAt") != self.incarnation:
            self._host.stream_was_reset(
                "liveness probe: the stream's incarnation changed (it was reset)"
            )
            return False
        server_max = int(core.get("maxOffset") or 0)
        if server_max > self._last_delivered and self._deliveries == seen:
            self._host.schedule_reconnect(
                f"liveness probe: the subscription stalled (server at offset {server_max}, "
                f"nothing delivered after {self._last_delivered})",
                reconnect_delay(ReconnectCause.PROBE_FAILED),
            )
            return False
        return True
