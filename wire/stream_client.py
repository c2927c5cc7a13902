"""Typed client for one stream (PROTOCOL.md §3, §5).

One-shot calls go over HTTP batch (one reusable `httpx.AsyncClient` per `StreamClient`);
`subscribe` opens a WebSocket session whose exported callback receives the delivery batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx

from wire.codec import UNDEFINED
from wire.errors import ConnectionClosed, HttpStatusError, RemoteError, RpcError
from wire.http_batch import http_batch_call
from wire.paths import DEFAULT_NAMESPACE, normalize_path, stream_url
from wire.session import DEFAULT_MAX_MESSAGE_SIZE, RemoteStub
from wire.ws import WsSession, being_cancelled, connect_ws

__all__ = [
    "AuthError",
    "BatchHandler",
    "StreamClient",
    "StreamConnectionError",
    "StreamError",
    "Subscription",
    "is_control_acknowledgement",
]

logger = logging.getLogger(__name__)

BatchHandler = Callable[[dict[str, Any]], Awaitable[None] | None]

DEFAULT_TIMEOUT = 30.0
# The message of the rejection iterate's server answers kill() and reset() with, bare and as
# JavaScript renders the error (PROTOCOL.md §9, reference/server-protocol.md §2.3).
KILL_REQUESTED_MESSAGES = frozenset({"kill requested", "Error: kill requested"})
_UNSUBSCRIBE_TIMEOUT = 5.0


class StreamError(Exception):
    """A stream call failed. For remote errors, the message is the server's message."""

    def __init__(self, message: str, *, remote_type: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.remote_type = remote_type


class AuthError(StreamError):
    """The server refused the request before any RPC (HTTP 401): missing or wrong token."""


class StreamConnectionError(StreamError):
    """The server could not be reached, or the connection broke during the call."""


class Subscription:
    """A live subscription; deliveries reach `on_batch` in order until it is closed."""

    def __init__(self, ws: WsSession, on_batch: BatchHandler) -> None:
        self._ws = ws
        self._on_batch = on_batch
        self._order = asyncio.Lock()
        self._unsubscribe_stub: RemoteStub | None = None
        self.subscription_key: str = ""
        self.stream_max_offset: int = 0

    @property
    def closed(self) -> asyncio.Future[BaseException]:
        """Resolves with the reason once the session is gone."""
        return self._ws.closed

    async def _deliver(self, batch: dict[str, Any]) -> None:
        # Every delivery is its own task; the fair lock keeps them in arrival order.
        async with self._order:
            if isinstance(batch, dict) and isinstance(batch.get("state"), dict):
                batch["state"] = _jsonify(batch["state"])
            result = self._on_batch(batch)
            if inspect.isawaitable(result):
                await result

    async def unsubscribe(self) -> None:
        """Close the subscription on the server (reason `unsubscribed`) and the session."""
        stub, self._unsubscribe_stub = self._unsubscribe_stub, None
        try:
            if stub is not None and not self._ws.session.is_closed:
                with contextlib.suppress(RpcError, TimeoutError):
                    await asyncio.wait_for(stub(), _UNSUBSCRIBE_TIMEOUT)
        finally:
            if being_cancelled():
                # Nobody waits for a graceful close any more (a deadline, an exit).
                self._ws.abort()
            else:
                await self._ws.aclose()

    async def aclose(self) -> None:
        """Drop the session without unsubscribing (the server sees a broken session)."""
        await self._ws.aclose()


class StreamClient:
    """Client for the stream `(namespace, path)` on the server at `base_url`."""

    def __init__(
        self,
        base_url: str,
        path: str,
        namespace: str = DEFAULT_NAMESPACE,
        token: str | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.path = normalize_path(path)
        self.namespace = namespace or DEFAULT_NAMESPACE
        self._token = token
        self._max_message_size = max_message_size
        self._own_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self.url = stream_url(self.base_url, self.path, self.namespace)
        self.ws_url = stream_url(self.base_url, self.path, self.namespace, ws=True)

    def __repr__(self) -> str:
        return f"StreamClient({self.base_url!r}, {self.path!r}, namespace={self.namespace!r})"

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> StreamClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ one-shot calls

    async def append(self, event: dict[str, Any], stream_path: str | None = None) -> Any:
        arg: dict[str, Any] = {"event": event}
        if stream_path is not None:
            arg["streamPath"] = stream_path
        return await self._call("append", arg)

    async def append_batch(
        self, events: Sequence[dict[str, Any]], stream_path: str | None = None
    ) -> Any:
        arg: dict[str, Any] = {"events": list(events)}
        if stream_path is not None:
            arg["streamPath"] = stream_path
        return await self._call("appendBatch", arg)

    async def get_event(
        self, offset: int | None = None, idempotency_key: str | None = None
    ) -> dict[str, Any] | None:
        """The event at `offset` or with `idempotency_key`; None when the key is unknown."""
        if (offset is None) == (idempotency_key is None):
            raise ValueError("pass exactly one of offset and idempotency_key")
        arg = {"offset": offset} if offset is not None else {"idempotencyKey": idempotency_key}
        result = await self._call("getEvent", arg)
        return None if result is UNDEFINED else result

    async def get_events(
        self,
        after_offset: int | None = None,
        before_offset: int | None = None,
        limit: int | None = None,
    ) -> Any:
        arg: dict[str, Any] = {}
        if after_offset is not None:
            arg["afterOffset"] = after_offset
        if before_offset is not None:
            arg["beforeOffset"] = before_offset
        if limit is not None:
            arg["limit"] = limit
        return await self._call("getEvents", arg)

    async def runtime_state(self) -> Any:
        return _jsonify(await self._call("runtimeState"))

    async def reduce(
        self, event: dict[str, Any], core_processor_state: dict[str, Any] | None = None
    ) -> Any:
        arg: dict[str, Any] = {"event": event}
        if core_processor_state is not None:
            arg["coreProcessorState"] = core_processor_state
        return _jsonify(await self._call("reduce", arg))

    async def kill(self) -> None:
        """Drop the live stream instance. Done also when the server answers as iterate's does
        (see ``is_control_acknowledgement``)."""
        await self._control("kill")

    async def reset(self) -> None:
        """Delete the stream's storage, then kill it (same answers as ``kill``)."""
        await self._control("reset")

    async def _control(self, method: str) -> None:
        try:
            (result,) = await http_batch_call(
                self.url,
                [(method,)],
                token=self._token,
                client=self._http,
                max_message_size=self._max_message_size,
                return_exceptions=True,
            )
        except (RpcError, OSError) as exc:
            if not is_control_acknowledgement(exc):
                raise self._translate(exc, method) from exc
            result = exc
        if isinstance(result, BaseException):
            if not is_control_acknowledgement(result):
                raise self._translate(result, method) from result
            logger.info(
                "%s on %s:%s: the stream ended the call itself (%s)",
                method,
                self.namespace,
                self.path,
                result,
            )

    async def get_events_with_state(
        self, after_offset: int, limit: int
    ) -> tuple[list[Any], dict[str, Any]]:
        """A page of events after ``after_offset`` and the stream's ``coreProcessorState``,
        from ONE HTTP batch. ``getEvents`` is pushed first and the server answers the calls in
        order, so the state (its ``createdAt``) is never older than the page: a page whose
        state names the mirror's incarnation comes from that incarnation."""
        events, state = await self._calls(
            [("getEvents", {"afterOffset": after_offset, "limit": limit}), ("runtimeState",)],
            "getEvents",
        )
        return list(events), dict(_jsonify(state)["coreProcessorState"])

    async def _call(self, method: str, *args: Any) -> Any:
        (result,) = await self._calls([(method, *args)], method)
        return result

    async def _calls(self, calls: list[tuple[Any, ...]], what: str) -> list[Any]:
        try:
            return list(
                await http_batch_call(
                    self.url,
                    calls,
                    token=self._token,
                    client=self._http,
                    max_message_size=self._max_message_size,
                )
            )
        except (RpcError, OSError) as exc:
            raise self._translate(exc, what) from exc

    # ------------------------------------------------------------------ subscriptions

    async def subscribe(
        self,
        on_batch: BatchHandler,
        *,
        replay_after_offset: int | None = None,
        subscription_key: str | None = None,
        event_types: Sequence[str] | None = None,
        events: bool = True,
        subscriber: dict[str, Any] | None = None,
    ) -> Subscription:
        """Subscribe over a new WebSocket session; `on_batch(batch)` runs for each delivery."""
        try:
            ws = await connect_ws(
                self.ws_url, token=self._token, max_message_size=self._max_message_size
            )
        except (RpcError, OSError) as exc:
            raise self._translate(exc, "subscribe") from exc
        sub = Subscription(ws, on_batch)
        arg: dict[str, Any] = {"processEventBatch": sub._deliver}
        if replay_after_offset is not None:
            arg["replayAfterOffset"] = replay_after_offset
        if subscription_key is not None:
            arg["subscriptionKey"] = subscription_key
        if event_types is not None:
            arg["eventTypes"] = list(event_types)
        if not events:
            arg["events"] = False
        if subscriber is not None:
            arg["subscriber"] = subscriber
        try:
            result = await ws.main.subscribe(arg)
        except BaseException as exc:
            await ws.aclose()
            if isinstance(exc, RpcError | OSError):
                raise self._translate(exc, "subscribe") from exc
            raise
        if isinstance(result, dict):
            sub.subscription_key = result.get("subscriptionKey", "")
            sub.stream_max_offset = result.get("streamMaxOffset", 0)
            unsubscribe = result.get("unsubscribe")
            if isinstance(unsubscribe, RemoteStub):
                sub._unsubscribe_stub = unsubscribe
        return sub

    def _translate(self, exc: BaseException, method: str) -> StreamError:
        where = f"{method} on {self.namespace}:{self.path} at {self.base_url}"
        if isinstance(exc, RemoteError):
            return StreamError(exc.message, remote_type=exc.type)
        if isinstance(exc, HttpStatusError):
            if exc.status_code == 401:
                hint = "the token was rejected" if self._token else "no token was given"
                return AuthError(
                    f"{where}: the server requires a valid bearer token (HTTP 401; {hint})"
                )
            return StreamConnectionError(f"{where}: {exc}")
        if isinstance(exc, ConnectionClosed | RpcError | OSError):
            return StreamConnectionError(f"{where}: {exc}")
        return StreamError(f"{where}: {exc!r}")


def is_control_acknowledgement(error: BaseException) -> bool:
    """Whether a failed ``kill``/``reset`` call in fact did its work (PROTOCOL.md §9).

    iterate's stream object aborts itself to kill, so the call rejects with ``kill requested``
    (as a rejection, or as the abort of the whole batch session); and the server may drop the
    connection once the request has reached it. A connection that never opened is a failure.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, RemoteError) and current.message.strip() in KILL_REQUESTED_MESSAGES:
            return True
        if isinstance(current, httpx.RemoteProtocolError | httpx.ReadError):
            return True
        next_error = current.reason if isinstance(current, ConnectionClosed) else None
        current = next_error or current.__cause__
    return False


def _jsonify(value: Any) -> Any:
    """Drop `undefined` object members and turn other `undefined`s into None (JSON semantics)."""
    if value is UNDEFINED:
        return None
    if isinstance(value, dict):
        return {k: _jsonify(v) for k, v in value.items() if v is not UNDEFINED}
    if isinstance(value, list):
        return [_jsonify(v) for v in value]
    return value
