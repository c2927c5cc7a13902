"""The object a client session talks to (import 0): the public stream API of PROTOCOL.md §3.

One instance per session (WebSocket connection or HTTP batch request), bound to the stream named
by the endpoint URL. Only the allow-listed methods are public; each takes one object argument
with camelCase keys. The engine is looked up on every call, so a call after `kill` or `reset`
wakes a fresh incarnation.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from server.delivery import DeliveryConnection
from server.engine import StreamEngine
from server.errors import StreamRequestError
from server.validation import (
    parse_append,
    parse_append_batch,
    parse_get_event,
    parse_get_events,
    parse_no_arguments,
    parse_reduce,
    parse_subscribe,
)
from wire.codec import UNDEFINED
from wire.paths import PathError, normalize_path, resolve_stream_path

if TYPE_CHECKING:
    from server.registry import StreamRegistry

logger = logging.getLogger(__name__)

CloseTransport = Callable[[], Awaitable[None]]


class StreamRpcTarget:
    """Public methods: append appendBatch getEvent getEvents runtimeState subscribe reduce
    kill reset. Everything else is private (the wire layer only exposes public names)."""

    def __init__(
        self,
        registry: "StreamRegistry",
        namespace: str,
        path: str,
        *,
        close_transport: CloseTransport | None = None,
    ) -> None:
        self._registry = registry
        self._namespace = namespace
        self._path = path
        # None for HTTP batch: such a session ends with its request and cannot be called back.
        self._close_transport = close_transport
        self._subscriptions: dict[DeliveryConnection, StreamEngine] = {}
        self._session_open = True
        self._background: set[asyncio.Task[None]] = set()

    # --- public API ----------------------------------------------------------------------

    def append(self, *args: Any) -> dict[str, Any]:
        parsed = parse_append(_one_argument("append", args))
        return self._routed_engine(parsed.stream_path).append(parsed.events[0])

    def appendBatch(self, *args: Any) -> list[dict[str, Any]]:
        parsed = parse_append_batch(_one_argument("appendBatch", args))
        return self._routed_engine(parsed.stream_path).append_batch(parsed.events)

    def getEvent(self, *args: Any) -> Any:
        parsed = parse_get_event(_one_argument("getEvent", args))
        engine = self._engine()
        if parsed.offset is not None:
            return engine.get_event(parsed.offset)
        assert parsed.idempotency_key is not None
        found = engine.get_event_by_key(parsed.idempotency_key)
        return UNDEFINED if found is None else found

    def getEvents(self, *args: Any) -> list[Any]:
        parsed = parse_get_events(_optional_argument("getEvents", args))
        return self._engine().get_events_for_wire(
            parsed.after_offset, parsed.before_offset, parsed.limit
        )

    def runtimeState(self, *args: Any) -> dict[str, Any]:
        parse_no_arguments("runtimeState", _optional_argument("runtimeState", args))
        return self._engine().runtime_state()

    def reduce(self, *args: Any) -> dict[str, Any]:
        parsed = parse_reduce(_one_argument("reduce", args))
        return self._engine().reduce(parsed.event, parsed.core_state)

    def subscribe(self, *args: Any) -> dict[str, Any]:
        parsed = parse_subscribe(_one_argument("subscribe", args))
        if self._close_transport is None:
            raise StreamRequestError(
                "subscribe needs a WebSocket session: an HTTP batch session ends with its "
                "request, so deliveries could never reach the subscriber"
            )
        if not self._session_open:
            raise StreamRequestError("the session is closed")
        callback = parsed.process_event_batch
        deliver = getattr(callback, "notify", None)
        if deliver is None:
            raise StreamRequestError('subscribe: "processEventBatch" must be a function')
        engine = self._engine()
        connection: DeliveryConnection | None = None

        def on_closed(reason: str | None) -> None:
            if connection is not None:
                self._subscriptions.pop(connection, None)
            _release(callback)
            if reason is None and self._session_open:
                # The stream was killed or reset: end the session so the client reconnects
                # (and wakes the stream), as a Durable Object abort would.
                self._spawn(self._close_transport_soon())

        connection = engine.subscribe(
            deliver,
            on_closed=on_closed,
            subscription_key=parsed.subscription_key,
            replay_after_offset=parsed.replay_after_offset,
            event_types=parsed.event_types,
            events=parsed.events,
            subscriber=parsed.subscriber,
        )
        self._subscriptions[connection] = engine
        opened = connection

        def unsubscribe(*_: Any) -> Any:
            engine.close_connection(opened, "unsubscribed")
            return UNDEFINED

        return {
            "subscriptionKey": connection.key,
            "streamMaxOffset": engine.max_offset,
            "unsubscribe": unsubscribe,
        }

    def kill(self, *args: Any) -> Any:
        parse_no_arguments("kill", _optional_argument("kill", args))
        self._registry.kill(self._namespace, self._path)
        return UNDEFINED

    def reset(self, *args: Any) -> Any:
        parse_no_arguments("reset", _optional_argument("reset", args))
        self._registry.reset(self._namespace, self._path)
        return UNDEFINED

    # --- session lifecycle (private: server.app hands it to serve_ws as on_closed) ---------

    def _session_closed(self, reason: BaseException) -> None:
        """The session is gone: its live subscriptions close with `rpc-broken`."""
        self._session_open = False
        for connection, engine in list(self._subscriptions.items()):
            engine.close_connection(connection, "rpc-broken")
        self._subscriptions.clear()

    async def _close_transport_soon(self) -> None:
        # Yield first so a reply already queued (e.g. to this session's own kill) goes out.
        for _ in range(3):
            await asyncio.sleep(0)
        if self._close_transport is not None and self._session_open:
            try:
                await self._close_transport()
            except Exception as exc:
                logger.debug("closing the transport failed: %s", exc)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- helpers -------------------------------------------------------------------------

    def _engine(self) -> StreamEngine:
        return self._registry.engine(self._namespace, self._path)

    def _routed_engine(self, stream_path: str | None) -> StreamEngine:
        if stream_path is None:
            return self._engine()
        try:
            target = normalize_path(resolve_stream_path(self._path, stream_path))
        except PathError as exc:
            raise StreamRequestError(str(exc)) from None
        return self._registry.engine(self._namespace, target)


def _one_argument(method: str, args: tuple[Any, ...]) -> Any:
    if len(args) != 1:
        raise StreamRequestError(f"{method} expects one object argument, got {len(args)}")
    return args[0]


def _optional_argument(method: str, args: tuple[Any, ...]) -> Any:
    if len(args) > 1:
        raise StreamRequestError(f"{method} expects at most one object argument, got {len(args)}")
    return args[0] if args else UNDEFINED


def _release(callback: Any) -> None:
    release = getattr(callback, "release", None)
    if release is not None:
        try:
            release()
        except Exception as exc:
            logger.debug("releasing a subscriber stub failed: %s", exc)
