"""``Connection``: ONE dial of a stream: its steps, subscription, deliveries and liveness probe.

The same class serves every host that follows a stream: the runtime's leader (``mirror.leader``,
whose steps before subscribing are ``mirror.leader_dial``) and the ``tail`` verb
(``mirror.cli_tail``). What a host does with a dial is its own; how a dial runs, fails and is
superseded is this module's.

Public API:

- ``ConnectionHost``: what a connection needs of its host (the protocol below).
- ``Connection(host, epoch, client)``: created by the host's ``Redialer`` for each dial and
  started at once; ``cancel()`` supersedes it (the dial and the probe are cancelled, the
  subscription is closed in the background). ``current``: whether it is still the host's
  connection (``Redialer.is_current(epoch)``); ``if_current(react, *args)`` is THE gate every
  result, close, delivery and answer goes through before it may touch the host, so a late one
  is dropped. ``at(stage, cause)``: the step a host's ``prepare`` is in (a failure there says
  "<stage> failed" and waits the ``mirror.backoff`` delay of ``cause``). ``incarnation``: what
  this dial proved the server holds (None until prepared); ``delivered_offset``; ``client``.

A dial: ``runtimeState`` (step deadline; first, so the host knows the stream's incarnation and
head before it does anything: the leader leaves no mirror file for a server never reached),
``host.prepare(connection, incarnation, head)`` (the host's own steps; returns the offset to
subscribe after, or None when the dial ends there: superseded, or the host already took its
fault), subscribe (step deadline), ``host.subscribed()``, then probe every ``probe_interval``:
``probe_misses`` unanswered probes in a row, a changed incarnation or a stalled subscription
(the server is ahead and nothing was delivered since the last probe) drop the connection. Each
delivery must carry the dial's incarnation in ``batch.state.createdAt`` or nothing of it reaches
``host.deliver`` and the host hears ``stream_was_reset``.

Where results go: a refused token to ``host.unauthorized``; a close to
``host.subscription_closed``; a new incarnation to ``host.stream_was_reset``; any other failure
to ``host.schedule_reconnect(error, delay)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from mirror.backoff import ReconnectCause, reconnect_delay
from mirror.redial import Redialer, close_subscription
from mirror.runtime_status import RuntimeTiming
from mirror.types import Delivery, Events
from mirror.writer_file import describe
from wire.stream_client import AuthError, StreamClient, Subscription

T = TypeVar("T")


class ConnectionHost(Protocol):
    @property
    def timing(self) -> RuntimeTiming: ...
    @property
    def redial(self) -> Redialer: ...
    @property
    def subscription_key(self) -> str | None: ...
    @property
    def subscriber(self) -> dict[str, str] | None: ...

    def spawn(self, work: Awaitable[T], name: str) -> asyncio.Task[T]: ...
    async def prepare(self, connection: Connection, incarnation: str, head: int) -> int | None: ...
    def subscribed(self) -> None: ...
    def deliver(self, epoch: int, incarnation: str, events: Events) -> None: ...
    def schedule_reconnect(self, error: str, delay: float) -> None: ...
    def subscription_closed(self, epoch: int, reason: str) -> None: ...
    def stream_was_reset(self, reason: str) -> None: ...
    def unauthorized(self, error: AuthError) -> None: ...


class Connection:
    def __init__(self, host: ConnectionHost, epoch: int, client: StreamClient) -> None:
        self.epoch = epoch
        self.client = client
        # The incarnation this dial proved the server holds (None until the host prepared it).
        self.incarnation: str | None = None
        self._host = host
        self._stage, self._cause = "connect", ReconnectCause.CONNECT_FAILED
        self._subscription: Subscription | None = None
        self._last_delivered = 0
        self._deliveries = 0
        self._probe: asyncio.Task[None] | None = None
        self._dial = host.spawn(self._run(), "dial")

    @property
    def current(self) -> bool:
        return self._host.redial.is_current(self.epoch)

    def if_current(self, react: Callable[..., None], *args: Any) -> None:
        """The one gate between this dial's results and its host."""
        if self.current:
            react(*args)

    def at(self, stage: str, cause: ReconnectCause) -> None:
        """The step this dial is in: names its failure and picks the delay after it."""
        self._stage, self._cause = stage, cause

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
        try:
            async with asyncio.timeout(timing.step_deadline):
                state = await self.client.runtime_state()
            core = state["coreProcessorState"]
            created_at, server_max = str(core["createdAt"]), int(core["maxOffset"])
            if not self.current:
                return
            after = await host.prepare(self, created_at, server_max)
            if after is None or not self.current:
                return
            self.incarnation = created_at
            self._last_delivered = after
            self.at("subscribe", ReconnectCause.SUBSCRIBE_FAILED)
            async with asyncio.timeout(timing.step_deadline):
                subscription = await self.client.subscribe(
                    self._on_batch,
                    replay_after_offset=after,
                    subscription_key=host.subscription_key,
                    subscriber=host.subscriber,
                )
        except AuthError as error:
            self.if_current(host.unauthorized, error)
            return
        except Exception as error:
            self.if_current(
                host.schedule_reconnect,
                f"{self._stage} failed: {describe(error)}",
                reconnect_delay(self._cause),
            )
            return
        if not self.current:
            host.spawn(close_subscription(subscription, timing.unsubscribe_deadline), "unsubscribe")
            return
        self._subscription = subscription
        host.subscribed()
        subscription.closed.add_done_callback(self._on_closed)
        self._probe = host.spawn(self._run_probe(), "liveness probe")

    def _on_closed(self, closed: asyncio.Future[BaseException]) -> None:
        reason = "closed" if closed.cancelled() else describe(closed.result())
        self.if_current(self._host.subscription_closed, self.epoch, reason)

    def _on_batch(self, batch: Delivery) -> None:
        if self.current:
            self._deliver(batch)

    def _deliver(self, batch: Delivery) -> None:
        host = self._host
        self._deliveries += 1
        state = batch.get("state")
        created_at = state.get("createdAt") if isinstance(state, dict) else None
        if created_at != self.incarnation or self.incarnation is None:
            # Nothing of a batch that cannot be proven to be of the incarnation this dial follows.
            host.stream_was_reset(
                f"a delivery came from incarnation {created_at}, this connection follows "
                f"{self.incarnation}"
            )
            return
        events = batch.get("events") or []
        if events:
            self._last_delivered = max(self._last_delivered, int(events[-1]["offset"]))
            host.deliver(self.epoch, self.incarnation, events)
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
                    state = await self.client.runtime_state()
            except TimeoutError:
                misses += 1
                if misses >= timing.probe_misses:
                    self.if_current(
                        self._host.schedule_reconnect,
                        f"liveness probe failed: no answer within {timing.probe_deadline:g} s, "
                        f"{misses} times in a row",
                        probe_delay,
                    )
                    return
                continue
            except Exception as error:
                self.if_current(
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
