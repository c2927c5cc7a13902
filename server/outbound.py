"""Outbound subscriptions of one live stream: the stream dials its configured subscribers.

`OutboundManager` keeps one link per configured subscription key (states and decisions in
`server.outbound_policy`). Reconciliation runs soon after `woken`, after `subscription-configured`,
after any domain append, and on a link's re-dial timer. A dial dispatches the configured callable
(`server.callables`) with the handshake payload `{stream, subscriptionKey, streamMaxOffset,
subscriptionConfiguredEvent, streamRuntimeState: {coreProcessorState}}` (plus `shallowMerge`);
the subscriber answers by calling `stream.subscribeOutbound(...)` with its checkpoint, which opens
an outbound delivery connection whose deliveries are awaited: a rejected delivery closes it with
`delivery-failed`, a broken session with `rpc-broken`, and both re-dial (`redial_delay`). After
`idle_teardown` seconds without an append every outbound connection closes with `idle`; the
configuration stays and the next domain append dials again.
"""

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from server.callables import (
    CallableError,
    CallableKind,
    CallableSpec,
    handshake_argument,
    parse_callable,
)
from server.core_state import CoreState
from server.delivery import DeliveryConnection
from server.outbound_policy import (
    REDIAL_REASONS,
    LinkState,
    LinkView,
    Trigger,
    check_transition,
    plan_reconcile,
    reconcile_trigger,
    redial_delay,
)
from server.types import Event
from wire.errors import ConnectionClosed
from wire.ws import WsSession, connect_ws

logger = logging.getLogger(__name__)

# An env binding: the durable object name (may be "") -> the object whose method is called.
Binding = Callable[[str], object]
DIAL_TIMEOUT_SECONDS: Final = 15.0


class OutboundHost(Protocol):
    """What the manager needs of its stream engine."""

    namespace: str
    path: str

    @property
    def state(self) -> CoreState: ...

    @property
    def max_offset(self) -> int: ...

    def close_connection(self, connection: DeliveryConnection, reason: str) -> None: ...

    def outbound_connections(self) -> list[DeliveryConnection]: ...


# Builds the object handed to the subscriber as `stream` (its `subscribeOutbound` calls back
# into `OutboundManager.open`).
TargetFactory = Callable[["OutboundManager", str], object]


@dataclass(eq=False)
class _Link:
    key: str
    state: LinkState = LinkState.IDLE
    config_offset: int = 0
    failures: int = 0
    connection: DeliveryConnection | None = None
    session: WsSession | None = None
    timer: asyncio.TimerHandle | None = None

    def move(self, target: LinkState) -> None:
        self.state = check_transition(self.state, target)


class OutboundManager:
    def __init__(
        self,
        host: OutboundHost,
        *,
        bindings: Mapping[str, Binding],
        make_target: TargetFactory,
        idle_teardown: float,
    ) -> None:
        self._host = host
        self._bindings = bindings
        self._make_target = make_target
        self._idle_teardown = idle_teardown
        self._links: dict[str, _Link] = {}
        self._pending: Trigger | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._last_append = 0.0
        self._closed = False

    # --- engine hooks ----------------------------------------------------------------------

    def after_commit(self, events: Iterable[Event]) -> None:
        """Called by the engine after every commit (on the event loop thread)."""
        if self._closed:
            return
        trigger: Trigger | None = None
        for event in events:
            found = reconcile_trigger(event["type"])
            if found is Trigger.REDIAL:
                trigger = found
                break
            trigger = trigger or found
        loop = _running_loop()
        if loop is None:
            return
        if trigger is not None:
            self._schedule(loop, trigger)
        self._last_append = loop.time()
        if self._idle_timer is None and self._host.outbound_connections():
            self._idle_timer = loop.call_later(self._idle_teardown, self._idle_check)

    def shutdown(self) -> None:
        """The incarnation ended (kill, reset, eviction, server stop): stop every timer, dial
        and session. Connections were already dropped by the engine."""
        self._closed = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        for link in self._links.values():
            self._forget_session(link)
            if link.timer is not None:
                link.timer.cancel()
        self._links.clear()
        for task in list(self._tasks):
            task.cancel()

    # --- called through the `stream` target -------------------------------------------------

    def open(
        self,
        key: str,
        callback: Any,
        *,
        replay_after_offset: int | None,
        event_types: frozenset[str] | None,
        subscriber: dict[str, Any] | None,
        subscribe: Callable[..., DeliveryConnection],
    ) -> DeliveryConnection:
        """Open the outbound connection a dialed subscriber asked for (`subscribeOutbound`)."""
        link = self._links.get(key)
        connection: DeliveryConnection | None = None

        async def deliver(batch: dict[str, Any]) -> None:
            result = callback(batch)
            if inspect.isawaitable(result):
                await result
            if link is not None and link.connection is connection:
                link.failures = 0

        def on_closed(reason: str | None) -> None:
            _release(callback)
            if link is not None and connection is not None:
                self._connection_closed(link, connection, reason)

        connection = subscribe(
            deliver,
            on_closed=on_closed,
            subscription_key=key,
            replay_after_offset=replay_after_offset,
            event_types=event_types,
            subscriber=subscriber,
            direction="outbound",
        )
        if link is not None:
            link.connection = connection
            if link.state is not LinkState.CONNECTED:
                link.move(LinkState.CONNECTED)
        loop = _running_loop()
        if loop is not None and self._idle_timer is None:
            self._last_append = loop.time()
            self._idle_timer = loop.call_later(self._idle_teardown, self._idle_check)
        return connection

    def failure_reason(self, error: BaseException) -> str:
        """`rpc-broken` when the subscriber's session is gone, else `delivery-failed`."""
        return "rpc-broken" if isinstance(error, ConnectionClosed) else "delivery-failed"

    def run_idle_teardown_now(self) -> int:
        """Close every outbound connection with `idle` (operator and test hook); returns how
        many were closed."""
        connections = self._host.outbound_connections()
        for connection in connections:
            self._host.close_connection(connection, "idle")
        return len(connections)

    # --- reconciliation ---------------------------------------------------------------------

    def _schedule(self, loop: asyncio.AbstractEventLoop, trigger: Trigger) -> None:
        # Coalesced: a burst of appends reconciles once, with the strongest trigger.
        if self._pending is None:
            loop.call_soon(self._reconcile_pending)
        if self._pending is not Trigger.REDIAL:
            self._pending = trigger

    def _reconcile_pending(self) -> None:
        trigger, self._pending = self._pending, None
        if trigger is not None and not self._closed:
            self._reconcile(trigger)

    def _reconcile(self, trigger: Trigger) -> None:
        configs = self._usable_configs()
        plan = plan_reconcile(
            {key: event["offset"] for key, (event, _) in configs.items()},
            {k: LinkView(link.state, link.config_offset) for k, link in self._links.items()},
            include_waiting=trigger is Trigger.REDIAL,
        )
        for key in plan.close:
            link = self._links.pop(key)
            if link.timer is not None:
                link.timer.cancel()
            if link.connection is not None:
                self._host.close_connection(link.connection, "subscription-removed")
            self._forget_session(link)
        for key in plan.dial:
            event, spec = configs[key]
            self._dial(key, event, spec)

    def _usable_configs(self) -> dict[str, tuple[Event, CallableSpec]]:
        usable: dict[str, tuple[Event, CallableSpec]] = {}
        for key, entry in self._host.state["subscriptionsByKey"].items():
            event = entry["latestConfiguredEvent"]
            try:
                spec = parse_callable(event["payload"]["subscriber"].get("callable"))
            except CallableError as exc:
                # Configs stored before the callable rule are dropped, as the reference does.
                logger.warning("outbound subscription %s ignored: %s", key, exc)
                continue
            usable[key] = (event, spec)
        return usable

    def _dial(self, key: str, event: Event, spec: CallableSpec) -> None:
        link = self._links.setdefault(key, _Link(key))
        if link.timer is not None:
            link.timer.cancel()
            link.timer = None
        link.move(LinkState.DIALING)
        link.config_offset = event["offset"]
        task = asyncio.get_running_loop().create_task(
            self._run_dial(link, event, spec), name=f"dial {self._host.path} {key}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_dial(self, link: _Link, event: Event, spec: CallableSpec) -> None:
        state = self._host.state
        handshake = {
            "stream": self._make_target(self, link.key),
            "subscriptionKey": link.key,
            "streamMaxOffset": self._host.max_offset,
            "subscriptionConfiguredEvent": event,
            "streamRuntimeState": {"coreProcessorState": state},
        }
        argument = handshake_argument(spec, handshake)
        logger.info("dialing outbound subscriber %s via %s", link.key, spec.describe())
        try:
            async with asyncio.timeout(DIAL_TIMEOUT_SECONDS):
                if spec.kind is CallableKind.BINDING:
                    await self._call_binding(spec, argument)
                else:
                    await self._call_websocket(link, spec, argument)
        except Exception as exc:
            logger.warning("dialing outbound subscriber %s failed: %s", link.key, exc)
            self._dial_failed(link)
            return
        if link.state is LinkState.DIALING and not self._closed:
            logger.warning("outbound subscriber %s did not call subscribeOutbound", link.key)
            self._dial_failed(link)

    async def _call_binding(self, spec: CallableSpec, argument: dict[str, Any]) -> None:
        binding = self._bindings.get(spec.binding_name)
        if binding is None:
            raise LookupError(f"this server has no binding named {spec.binding_name!r}")
        method = getattr(binding(spec.object_name), spec.rpc_method)
        result = method(argument)
        if inspect.isawaitable(result):
            await result

    async def _call_websocket(
        self, link: _Link, spec: CallableSpec, argument: dict[str, Any]
    ) -> None:
        session = await connect_ws(spec.url)
        self._forget_session(link)
        link.session = session
        session.closed.add_done_callback(lambda _: self._session_ended(link, session))
        await getattr(session.main, spec.rpc_method)(argument)

    def _dial_failed(self, link: _Link) -> None:
        if self._closed or self._links.get(link.key) is not link:
            return
        if link.state is LinkState.DIALING:
            link.move(LinkState.WAITING)
        self._forget_session(link)
        link.failures += 1
        self._arm_redial(link)

    def _arm_redial(self, link: _Link) -> None:
        loop = _running_loop()
        if loop is None:
            return
        delay = redial_delay(link.failures)
        link.timer = loop.call_later(delay, self._redial_due, link)

    def _redial_due(self, link: _Link) -> None:
        link.timer = None
        live = not self._closed and self._links.get(link.key) is link
        if live and link.state is LinkState.WAITING:
            self._reconcile(Trigger.REDIAL)

    # --- connection and session ends -----------------------------------------------------

    def _connection_closed(
        self, link: _Link, connection: DeliveryConnection, reason: str | None
    ) -> None:
        if link.connection is not connection:
            return
        link.connection = None
        if reason == "replaced" or reason is None or self._closed:
            # Replaced: the new connection is attached right after. None: the engine shut down.
            return
        self._forget_session(link)
        if self._links.get(link.key) is not link or link.state is not LinkState.CONNECTED:
            return
        if reason in REDIAL_REASONS:
            link.move(LinkState.WAITING)
            link.failures += 1
            self._arm_redial(link)
        else:
            link.move(LinkState.IDLE)

    def _session_ended(self, link: _Link, session: WsSession) -> None:
        if link.session is not session:
            return
        link.session = None
        if link.connection is not None and not self._closed:
            self._host.close_connection(link.connection, "rpc-broken")

    def _forget_session(self, link: _Link) -> None:
        session, link.session = link.session, None
        if session is None:
            return
        loop = _running_loop()
        if loop is not None:
            task = loop.create_task(session.aclose())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _idle_check(self) -> None:
        self._idle_timer = None
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        remaining = self._last_append + self._idle_teardown - loop.time()
        if remaining > 0:
            self._idle_timer = loop.call_later(remaining, self._idle_check)
            return
        closed = self.run_idle_teardown_now()
        if closed:
            logger.info("closed %d idle outbound connection(s) on %s", closed, self._host.path)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _release(callback: Any) -> None:
    release = getattr(callback, "release", None)
    if release is not None:
        with contextlib.suppress(Exception):
            release()
