"""Cap'n Web session core: import/export tables, calls, pipelining, release, abort.

`RpcSession` is transport-agnostic. Incoming text messages go in through `receive()` (sync);
outgoing ones collect in an outbox that a transport drains, either with `run(recv, send)` (a
generic driver for message transports such as WebSockets or an in-memory pipe) or with
`take_outgoing()` (HTTP batch). Senders that await (`await stub(...)`, `await stub.notify(...)`)
wait until the transport has taken their messages, so a slow peer slows its callers down instead
of growing a queue.

Id rules (PROTOCOL.md §7): our pushes get positive import ids 1, 2, ...; objects we export get
negative ids -1, -2, ...; 0 is the main interface; ids are never reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import inspect
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Final

from wire.codec import (
    RpcTarget,
    decode,
    decode_args,
    dumps,
    encode,
    encode_args,
    encode_error,
    loads,
)
from wire.errors import ConnectionClosed, MessageTooLarge, ProtocolError, RemoteError, RpcError

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "ConnectionClosed",
    "RemoteStub",
    "RpcPromise",
    "RpcSession",
    "RpcTarget",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_SIZE: Final = 32 * 1024 * 1024
DEFAULT_MAX_PENDING_CALLS: Final = 1024
_FLUSH_ON_CLOSE_SECONDS: Final = 2.0


class _Import:
    """An entry of our import table (something the peer owns)."""

    __slots__ = ("future", "id", "kind", "local_refs", "pulled", "remote_refcount")

    def __init__(self, id: int, kind: str) -> None:
        self.id = id
        self.kind = kind  # "main" | "push" | "stub" | "promise"
        self.remote_refcount = 1
        self.local_refs = 0
        self.pulled = False
        self.future: asyncio.Future[Any] | None = None


class _Export:
    """An entry of our export table (something the peer may call or pull)."""

    __slots__ = (
        "done",
        "error",
        "id",
        "kind",
        "pulled",
        "refcount",
        "released",
        "resolution_sent",
        "target",
        "value",
        "waiter",
    )

    def __init__(self, id: int, kind: str, target: object = None) -> None:
        self.id = id
        self.kind = kind  # "main" | "push" | "stub"
        self.target = target
        self.refcount = 1
        self.done = kind != "push"
        self.value: Any = None
        self.error: BaseException | None = None
        self.pulled = False
        self.released = False
        self.resolution_sent = False
        self.waiter: asyncio.Future[None] | None = None


class _StubRef:
    """One reference to an import; `owning` refs count towards the peer's refcount."""

    __slots__ = ("imp", "owning", "released", "session")

    def __init__(self, session: RpcSession, imp: _Import, owning: bool) -> None:
        self.session = session
        self.imp = imp
        self.owning = owning
        self.released = False
        if owning:
            imp.local_refs += 1

    def release(self) -> None:
        if self.owning and not self.released:
            self.released = True
            self.session._drop_local_ref(self.imp)


class _Pending:
    """A value that must be evaluated before delivery: a call/property or a peer promise."""

    __slots__ = ("arg_pendings", "args", "export", "future", "path")

    def __init__(
        self,
        export: _Export | None,
        path: list[str | int],
        args: list[Any] | None,
        arg_pendings: list[_Pending] | None,
        future: asyncio.Future[Any] | None = None,
    ) -> None:
        self.export = export
        self.path = path
        self.args = args
        self.arg_pendings = arg_pendings
        self.future = future


class _Decoder:
    """Decode hooks bound to one session; collects values that need evaluation."""

    __slots__ = ("pendings", "session")

    def __init__(self, session: RpcSession) -> None:
        self.session = session
        self.pendings: list[_Pending] = []

    def on_import(self, kind: str, id: int, path: list[str | int] | None, args: Any) -> Any:
        return self.session._decode_import(self, kind, id, path, args)

    def on_export(self, id: int) -> Any:
        return self.session._import_stub(id)

    def on_promise(self, id: int) -> Any:
        p = self.session._import_promise(id)
        self.pendings.append(p)
        return p


class RemoteStub:
    """A reference to an object the peer exports (its main object, a callback, ...).

    `stub.name` is a stub for a property (no traffic); `stub(args)` / `stub.name(args)` call it;
    `await stub.notify(args)` calls it without wanting the result; `stub.release()` drops our
    reference. Use `stub["name"]` for remote names that clash with these methods.
    """

    __slots__ = ("_path", "_ref", "_session")

    def __init__(self, session: RpcSession, ref: _StubRef, path: tuple[str | int, ...]) -> None:
        self._session = session
        self._ref = ref
        self._path = path

    def __getattr__(self, name: str) -> RemoteStub:
        if name.startswith("_"):
            raise AttributeError(name)
        return RemoteStub(self._session, self._ref, (*self._path, name))

    def __getitem__(self, key: str | int) -> RemoteStub:
        return RemoteStub(self._session, self._ref, (*self._path, key))

    def __call__(self, *args: Any) -> RpcPromise:
        return self._session._call(self._ref, self._path, args)

    async def notify(self, *args: Any) -> None:
        """Fire-and-forget call (push + release, no pull); returns once the transport sent it."""
        await self._session._notify(self._ref, self._path, args)

    def release(self) -> None:
        """Drop this reference; the peer is told once every reference is gone."""
        self._ref.release()

    @property
    def import_id(self) -> int:
        return self._ref.imp.id

    def __repr__(self) -> str:
        path = "".join(f".{p}" for p in self._path)
        return f"<RemoteStub {self._ref.imp.id}{path}>"


class RpcPromise:
    """The pending result of a call. Await it for the value; call methods on it to pipeline."""

    __slots__ = ("_imp", "_session")

    def __init__(self, session: RpcSession, imp: _Import) -> None:
        self._session = session
        self._imp = imp

    def __await__(self) -> Generator[Any, None, Any]:
        return self._session._await_import(self._imp).__await__()

    def __getattr__(self, name: str) -> RemoteStub:
        if name.startswith("_"):
            raise AttributeError(name)
        return RemoteStub(self._session, _StubRef(self._session, self._imp, False), (name,))

    def __getitem__(self, key: str | int) -> RemoteStub:
        return RemoteStub(self._session, _StubRef(self._session, self._imp, False), (key,))

    def pull(self) -> None:
        """Ask for the result now without waiting for it (used to fill an HTTP batch)."""
        self._session._pull(self._imp)

    def release(self) -> None:
        """Give up the result without awaiting it."""
        self._session._release_push(self._imp)

    @property
    def import_id(self) -> int:
        return self._imp.id

    def __repr__(self) -> str:
        return f"<RpcPromise {self._imp.id}>"


Receive = Callable[[], Awaitable[str]]
Send = Callable[[str], Awaitable[None]]


class RpcSession:
    """One Cap'n Web session. Create it inside a running event loop.

    `main` is the object the peer sees as import 0 (None: the peer can call nothing).
    `buffered=True` is for HTTP batch: outgoing messages are only collected with
    `take_outgoing()`, and awaiting senders never wait for a transport.
    """

    def __init__(
        self,
        main: object | None = None,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_pending_calls: int = DEFAULT_MAX_PENDING_CALLS,
        buffered: bool = False,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._max_message_size = max_message_size
        self._max_pending_calls = max_pending_calls
        self._buffered = buffered
        self._exports: dict[int, _Export] = {0: _Export(0, "main", main)}
        main_import = _Import(0, "main")
        self._imports: dict[int, _Import] = {0: main_import}
        self._next_import = 1
        self._next_export = -1
        self._next_push = 1
        self._lowest_peer_id = 0
        self._outbox: deque[str] = deque()
        self._queued = 0
        self._sent = 0
        self._sent_waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._waiter_seq = itertools.count()
        self._outbox_event = asyncio.Event()
        self._capacity_event = asyncio.Event()
        self._capacity_event.set()
        self._inflight = 0
        self._unresolved_pulls = 0
        self._pulls_event = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed_reason: BaseException | None = None
        self._closed: asyncio.Future[BaseException] = self._loop.create_future()
        self._handlers: dict[str, Callable[[list[Any]], None]] = {
            "push": self._on_push,
            "pull": self._on_pull,
            "release": self._on_release,
            "abort": self._on_abort,
        }
        self.main = RemoteStub(self, _StubRef(self, main_import, False), ())

    # ------------------------------------------------------------------ public state

    @property
    def closed(self) -> asyncio.Future[BaseException]:
        """Resolves with the reason (an exception instance) once the session has ended."""
        return self._closed

    @property
    def is_closed(self) -> bool:
        return self._closed_reason is not None

    @property
    def max_message_size(self) -> int:
        return self._max_message_size

    def stats(self) -> dict[str, int]:
        """Live table entries besides the main interface (for tests and diagnostics)."""
        return {"imports": len(self._imports) - 1, "exports": len(self._exports) - 1}

    # ------------------------------------------------------------------ transport interface

    def receive(self, text: str | bytes) -> None:
        """Handle one incoming message (JSON text, or its UTF-8 bytes). A bad message aborts the
        session (never raises)."""
        if self._closed_reason is not None:
            return
        if len(text) > self._max_message_size:
            unit = "bytes" if isinstance(text, bytes) else "characters"
            self.abort(
                ProtocolError(
                    f"incoming message of {len(text)} {unit} exceeds the limit of "
                    f"{self._max_message_size}"
                )
            )
            return
        try:
            msg = loads(text)
            if type(msg) is not list or not msg or type(msg[0]) is not str:
                raise ProtocolError(f"bad RPC message: {_preview(msg)}")
            if msg[0] == "resolve" or msg[0] == "reject":
                # The frame is one array; the rest of the text bounds the result's arrays.
                brackets = text.count(b"[") if isinstance(text, bytes) else text.count("[")
                self._on_resolve(msg, brackets - 1)
                return
            handler = self._handlers.get(msg[0])
            if handler is None:
                raise ProtocolError(f"unknown message type {msg[0]!r}: {_preview(msg)}")
            handler(msg)
        except ProtocolError as exc:
            self.abort(exc)

    def take_outgoing(self) -> list[str]:
        """Remove and return every queued outgoing message (HTTP batch)."""
        out = list(self._outbox)
        self._outbox.clear()
        self._sent += len(out)
        self._wake_sent_waiters()
        return out

    async def wait_input_capacity(self) -> None:
        """Wait while too many calls from the peer are still running (input backpressure)."""
        while self._inflight >= self._max_pending_calls and self._closed_reason is None:
            self._capacity_event.clear()
            await self._capacity_event.wait()

    async def run(self, recv: Receive, send: Send) -> BaseException:
        """Drive the session over a message transport until it ends; return the reason.

        `recv()` returns the next text message and raises when the transport is gone; `send`
        writes one message. The caller closes the transport afterwards.
        """
        self._buffered = False
        reader = asyncio.create_task(self._read_loop(recv))
        writer = asyncio.create_task(self._write_loop(send))
        try:
            await asyncio.shield(self._closed)
        finally:
            if self._closed_reason is None:
                self.close(ConnectionClosed("RPC session cancelled"))
            reader.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(writer), _FLUSH_ON_CLOSE_SECONDS)
            writer.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)
        return self._closed.result()

    async def drain(self) -> None:
        """Wait until every result the peer pulled has been sent (or the session ended)."""
        while self._unresolved_pulls > 0 and self._closed_reason is None:
            self._pulls_event.clear()
            await self._pulls_event.wait()

    def abort(self, error: BaseException) -> None:
        """End the session because of `error`, telling the peer with `["abort", error]`."""
        if self._closed_reason is not None:
            return
        if isinstance(error, ProtocolError):
            logger.warning("aborting RPC session: %s", error)
        with contextlib.suppress(TypeError, ValueError):
            self._outbox.append(dumps(["abort", encode_error(error)]))
            self._queued += 1
            self._outbox_event.set()
        self._close(error)

    def close(self, reason: BaseException | None = None) -> None:
        """End the session locally without an abort message (the transport closes normally)."""
        self._close(reason or ConnectionClosed("RPC session closed"))

    def connection_lost(self, reason: BaseException) -> None:
        """The transport is gone; fail everything pending with `ConnectionClosed`."""
        if not isinstance(reason, ConnectionClosed):
            wrapped = ConnectionClosed(f"connection lost: {reason}", reason)
            wrapped.__cause__ = reason
            reason = wrapped
        self._close(reason)

    # ------------------------------------------------------------------ loops

    async def _read_loop(self, recv: Receive) -> None:
        while self._closed_reason is None:
            if self._inflight >= self._max_pending_calls:
                await self.wait_input_capacity()
                continue
            try:
                text = await recv()
            except asyncio.CancelledError:
                raise
            except ProtocolError as exc:
                self.abort(exc)
                return
            except Exception as exc:
                self.connection_lost(exc)
                return
            if type(text) is not str:
                self.abort(ProtocolError(f"expected a text message, got {type(text).__name__}"))
                return
            try:
                self.receive(text)
            except Exception as exc:  # a bug must end the session, not hang it
                logger.exception("error handling an RPC message")
                self.abort(exc)

    async def _write_loop(self, send: Send) -> None:
        while True:
            while self._outbox:
                text = self._outbox.popleft()
                try:
                    await send(text)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.connection_lost(exc)
                    return
                self._sent += 1
                self._wake_sent_waiters()
            if self._closed_reason is not None:
                return
            self._outbox_event.clear()
            await self._outbox_event.wait()

    def _wake_sent_waiters(self) -> None:
        waiters = self._sent_waiters
        while waiters and waiters[0][0] <= self._sent:
            fut = heapq.heappop(waiters)[2]
            if not fut.done():
                fut.set_result(None)

    # ------------------------------------------------------------------ sending

    def _enqueue(self, text: str) -> int:
        self._outbox.append(text)
        self._queued += 1
        self._outbox_event.set()
        return self._queued

    async def _flush(self, seq: int) -> None:
        """Wait until message number `seq` has been handed to the transport."""
        if self._buffered or self._sent >= seq:
            return
        if self._closed_reason is not None:
            raise self._closed_error()
        fut: asyncio.Future[None] = self._loop.create_future()
        heapq.heappush(self._sent_waiters, (seq, next(self._waiter_seq), fut))
        await fut

    def _check_open(self) -> None:
        if self._closed_reason is not None:
            raise self._closed_error()

    def _closed_error(self) -> ConnectionClosed:
        reason = self._closed_reason
        if isinstance(reason, ConnectionClosed):
            return ConnectionClosed(str(reason), reason.reason or reason)
        return ConnectionClosed(f"RPC session ended: {reason}", reason)

    def _encode_value(self, value: Any) -> Any:
        start = self._next_export
        try:
            return encode(value, self)
        except BaseException:
            self._unexport_since(start)
            raise

    def _unexport_since(self, start: int) -> None:
        for eid in range(start, self._next_export, -1):
            self._exports.pop(eid, None)

    def _build_push(self, ref: _StubRef, path: tuple[str | int, ...], args: Any) -> str:
        self._check_open()
        imp = ref.imp
        if ref.released or self._imports.get(imp.id) is not imp:
            if imp.kind == "push":
                raise RpcError(
                    f"promise {imp.id} was already awaited or released; "
                    "call methods on its result instead"
                )
            raise RpcError(f"stub {imp.id} was already released")
        start = self._next_export
        try:
            expr = ["pipeline", imp.id, list(path), encode_args(args, self)]
            text = dumps(["push", expr])
        except BaseException:
            self._unexport_since(start)
            raise
        if len(text) > self._max_message_size:
            self._unexport_since(start)
            raise MessageTooLarge(
                f"call message of {len(text)} characters exceeds the limit of "
                f"{self._max_message_size}"
            )
        return text

    def _call(self, ref: _StubRef, path: tuple[str | int, ...], args: Any) -> RpcPromise:
        text = self._build_push(ref, path, args)
        imp = _Import(self._next_import, "push")
        self._next_import += 1
        imp.local_refs = 1
        imp.future = self._loop.create_future()
        imp.future.add_done_callback(_consume_exception)
        self._imports[imp.id] = imp
        self._enqueue(text)
        return RpcPromise(self, imp)

    async def _notify(self, ref: _StubRef, path: tuple[str | int, ...], args: Any) -> None:
        text = self._build_push(ref, path, args)
        import_id = self._next_import
        self._next_import += 1
        self._enqueue(text)
        seq = self._enqueue(dumps(["release", import_id, 1]))
        await self._flush(seq)

    def _pull(self, imp: _Import) -> int | None:
        assert imp.future is not None
        if imp.pulled or imp.future.done():
            return None
        self._check_open()
        if self._imports.get(imp.id) is not imp:
            raise RpcError(f"promise {imp.id} was released")
        imp.pulled = True
        return self._enqueue(dumps(["pull", imp.id]))

    async def _await_import(self, imp: _Import) -> Any:
        fut = imp.future
        assert fut is not None
        seq = self._pull(imp)
        if seq is not None:
            await self._flush(seq)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            # The caller gave up (e.g. a deadline): the peer need not send the result.
            self._release_push(imp)
            raise

    def _release_push(self, imp: _Import) -> None:
        if self._imports.get(imp.id) is not imp:
            return
        del self._imports[imp.id]
        if imp.future is not None and not imp.future.done():
            imp.future.set_exception(RpcError(f"promise {imp.id} was released"))
        if self._closed_reason is None:
            self._enqueue(dumps(["release", imp.id, imp.remote_refcount]))

    def _drop_local_ref(self, imp: _Import) -> None:
        imp.local_refs -= 1
        if imp.local_refs > 0 or self._imports.get(imp.id) is not imp:
            return
        del self._imports[imp.id]
        if self._closed_reason is None:
            self._enqueue(dumps(["release", imp.id, imp.remote_refcount]))

    # EncodeHooks
    def encode_ref(self, value: object) -> Any:
        if isinstance(value, RemoteStub | RpcPromise):
            if value._session is not self:
                raise TypeError("cannot pass a stub from another RPC session")
            path: tuple[str | int, ...] = ()
            if isinstance(value, RpcPromise):
                imp = value._imp
            else:
                imp, path = value._ref.imp, value._path
            if self._imports.get(imp.id) is not imp:
                raise TypeError(f"cannot pass stub {imp.id}: it was released")
            if imp.kind in ("stub", "main") and not path:
                return ["import", imp.id]
            return ["pipeline", imp.id, list(path)] if path else ["pipeline", imp.id]
        if isinstance(value, RpcTarget) or callable(value):
            eid = self._next_export
            self._next_export -= 1
            self._exports[eid] = _Export(eid, "stub", value)
            return ["export", eid]
        raise TypeError(f"cannot serialize value of type {type(value).__name__}")

    # ------------------------------------------------------------------ incoming messages

    def _on_push(self, msg: list[Any]) -> None:
        if len(msg) != 2:
            raise ProtocolError(f"bad push message: {_preview(msg)}")
        exp = _Export(self._next_push, "push")
        self._next_push += 1
        self._exports[exp.id] = exp
        dec = _Decoder(self)
        value = decode(msg[1], dec)
        try:
            if type(value) is _Pending:
                result = self._start_pending(value)
            elif dec.pendings:
                result = self._substitute(value, dec.pendings)
            else:
                result = value
        except Exception as exc:
            self._settle(exp, None, exc)
            return
        if inspect.isawaitable(result):
            self._spawn(exp, result)
        else:
            self._settle(exp, result, None)

    def _on_pull(self, msg: list[Any]) -> None:
        if len(msg) != 2 or type(msg[1]) is not int:
            raise ProtocolError(f"bad pull message: {_preview(msg)}")
        exp = self._exports.get(msg[1])
        if exp is None:
            raise ProtocolError(f"pull of unknown export id {msg[1]}")
        if exp.kind != "push":
            raise ProtocolError(f"pull of export {msg[1]}, which is not a promise")
        if exp.pulled:
            return
        exp.pulled = True
        if exp.done:
            self._send_resolution(exp)
        else:
            self._unresolved_pulls += 1

    def _on_resolve(self, msg: list[Any], arrays: int) -> None:
        if len(msg) != 3 or type(msg[1]) is not int:
            raise ProtocolError(f"bad {msg[0]} message: {_preview(msg)}")
        import_id: int = msg[1]
        imp = self._imports.get(import_id)
        if imp is None or imp.future is None:
            if imp is None and (
                0 < import_id < self._next_import or self._lowest_peer_id <= import_id < 0
            ):
                return  # we released it already; a late answer is allowed
            raise ProtocolError(f"{msg[0]} for unknown import id {import_id}")
        dec = _Decoder(self)
        value = decode(msg[2], dec, arrays=arrays)
        if msg[0] == "reject":
            error = value if isinstance(value, BaseException) else None
            if error is None:
                error = RemoteError("Error", f"call rejected with a non-error value: {value!r}")
            self._settle_import(imp, None, error)
        elif dec.pendings:
            self._spawn_import_substitution(imp, value, dec.pendings)
        else:
            self._settle_import(imp, value, None)

    def _on_release(self, msg: list[Any]) -> None:
        if len(msg) != 3 or type(msg[1]) is not int or type(msg[2]) is not int:
            raise ProtocolError(f"bad release message: {_preview(msg)}")
        export_id, refcount = msg[1], msg[2]
        exp = self._exports.get(export_id)
        if exp is None:
            raise ProtocolError(f"release of unknown export id {export_id}")
        if refcount <= 0 or refcount > exp.refcount:
            raise ProtocolError(
                f"release of export {export_id} with refcount {refcount} (held: {exp.refcount})"
            )
        exp.refcount -= refcount
        if exp.refcount > 0:
            return
        del self._exports[export_id]
        exp.released = True
        if exp.kind == "push" and exp.pulled and not exp.resolution_sent:
            self._pull_done()
        if exp.done and exp.error is not None and not exp.pulled:
            _log_unobserved(exp)

    def _on_abort(self, msg: list[Any]) -> None:
        if len(msg) != 2:
            raise ProtocolError(f"bad abort message: {_preview(msg)}")
        try:
            value = decode(msg[1])
        except ProtocolError as exc:
            value = exc
        message = value.message if isinstance(value, RemoteError) else str(value)
        reason = ConnectionClosed(f"peer aborted the RPC session: {message}", value)
        self._close(reason)

    # ------------------------------------------------------------------ decoding helpers

    def _decode_import(
        self, dec: _Decoder, kind: str, id: int, path: list[str | int] | None, args: Any
    ) -> Any:
        exp = self._exports.get(id)
        if exp is None:
            raise ProtocolError(f"no such entry on exports table: {id}")
        if kind == "import" and not path and args is None and exp.kind != "push":
            return exp.target
        arg_values = None
        arg_pendings = None
        if args is not None:
            inner = _Decoder(self)
            arg_values = decode_args(args, inner)
            arg_pendings = inner.pendings or None
        p = _Pending(exp, path or [], arg_values, arg_pendings)
        dec.pendings.append(p)
        return p

    def _import_stub(self, id: int) -> RemoteStub:
        imp = self._imports.get(id)
        if imp is None:
            imp = _Import(id, "stub")
            self._imports[id] = imp
            self._lowest_peer_id = min(self._lowest_peer_id, id)
        elif imp.kind != "stub":
            raise ProtocolError(f"export id {id} is already in use by a promise")
        else:
            imp.remote_refcount += 1
        return RemoteStub(self, _StubRef(self, imp, True), ())

    def _import_promise(self, id: int) -> _Pending:
        if id in self._imports:
            raise ProtocolError(f"peer sent a promise reusing an existing export id {id}")
        imp = _Import(id, "promise")
        imp.local_refs = 1
        imp.future = self._loop.create_future()
        imp.future.add_done_callback(_consume_exception)
        self._imports[id] = imp
        self._lowest_peer_id = min(self._lowest_peer_id, id)
        return _Pending(None, [], None, None, imp.future)

    # ------------------------------------------------------------------ evaluation

    def _start_pending(self, p: _Pending) -> Any:
        """Evaluate now when possible; otherwise return an awaitable."""
        if p.future is not None:
            return asyncio.shield(p.future)
        exp = p.export
        assert exp is not None
        if exp.kind == "push" or p.arg_pendings:
            return self._evaluate_later(p)
        if exp.kind == "main" and exp.target is None:
            raise RemoteError("Error", "This connection has no main object.")
        return _apply(exp.target, p.path, p.args)

    async def _evaluate_later(self, p: _Pending) -> Any:
        args = p.args
        if p.arg_pendings:
            args = await self._substitute(args, p.arg_pendings)
        exp = p.export
        assert exp is not None
        if not exp.done:
            if exp.waiter is None:
                exp.waiter = self._loop.create_future()
            await asyncio.shield(exp.waiter)
        if exp.error is not None:
            raise exp.error
        target = exp.value if exp.kind == "push" else exp.target
        result = _apply(target, p.path, args)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _substitute(self, value: Any, pendings: list[_Pending]) -> Any:
        results: dict[int, Any] = {}
        for p in pendings:
            r = self._start_pending(p)
            if inspect.isawaitable(r):
                r = await r
            results[id(p)] = r
        return _replace(value, results)

    def _spawn(self, exp: _Export, awaitable: Awaitable[Any]) -> None:
        self._inflight += 1

        async def runner() -> None:
            try:
                value = await awaitable
            except Exception as exc:
                self._settle(exp, None, exc)
            else:
                self._settle(exp, value, None)
            finally:
                self._inflight -= 1
                self._capacity_event.set()

        task = asyncio.create_task(runner())
        if inspect.iscoroutine(awaitable):
            # A task cancelled before its first step (session torn down at once) never awaits
            # the call; close it so it does not linger as a never-awaited coroutine.
            coroutine = awaitable
            task.add_done_callback(lambda t: coroutine.close() if t.cancelled() else None)
        self._track(task)

    def _spawn_import_substitution(
        self, imp: _Import, value: Any, pendings: list[_Pending]
    ) -> None:
        async def runner() -> None:
            try:
                result = await self._substitute(value, pendings)
            except Exception as exc:
                self._settle_import(imp, None, exc)
            else:
                self._settle_import(imp, result, None)

        self._track(asyncio.create_task(runner()))

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _settle(self, exp: _Export, value: Any, error: BaseException | None) -> None:
        if exp.done:
            return
        exp.done = True
        exp.value = value
        exp.error = error
        if exp.waiter is not None and not exp.waiter.done():
            exp.waiter.set_result(None)
        if self._closed_reason is not None:
            return
        if exp.pulled and not exp.released:
            self._send_resolution(exp)
            self._pull_done()
        elif error is not None and exp.released:
            _log_unobserved(exp)

    def _send_resolution(self, exp: _Export) -> None:
        if exp.resolution_sent:
            return
        exp.resolution_sent = True
        if exp.error is not None:
            if not isinstance(exp.error, RemoteError):
                logger.debug("call %d failed: %r", exp.id, exp.error)
            text = dumps(["reject", exp.id, encode_error(exp.error)])
        else:
            start = self._next_export
            try:
                text = dumps(["resolve", exp.id, self._encode_value(exp.value)])
            except TypeError as exc:
                text = dumps(["reject", exp.id, encode_error(exc)])
            if len(text) > self._max_message_size:
                self._unexport_since(start)
                size = len(text)
                text = dumps(
                    [
                        "reject",
                        exp.id,
                        [
                            "error",
                            "RangeError",
                            f"result of {size} characters exceeds the message size limit "
                            f"of {self._max_message_size}",
                        ],
                    ]
                )
        self._enqueue(text)

    def _pull_done(self) -> None:
        if self._unresolved_pulls > 0:
            self._unresolved_pulls -= 1
        if self._unresolved_pulls == 0:
            self._pulls_event.set()

    def _settle_import(self, imp: _Import, value: Any, error: BaseException | None) -> None:
        if self._imports.get(imp.id) is not imp:
            return
        del self._imports[imp.id]
        fut = imp.future
        if fut is not None and not fut.done():
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(value)
        if self._closed_reason is None:
            self._enqueue(dumps(["release", imp.id, imp.remote_refcount]))

    # ------------------------------------------------------------------ shutdown

    def _close(self, reason: BaseException) -> None:
        if self._closed_reason is not None:
            return
        self._closed_reason = reason
        error = self._closed_error()
        for imp in list(self._imports.values()):
            if imp.future is not None and not imp.future.done():
                imp.future.set_exception(self._closed_error())
        self._imports = {0: self._imports[0]} if 0 in self._imports else {}
        for _, _, fut in self._sent_waiters:
            if not fut.done():
                fut.set_exception(self._closed_error())
        self._sent_waiters.clear()
        for exp in self._exports.values():
            if exp.waiter is not None and not exp.waiter.done():
                exp.waiter.set_result(None)
                if not exp.done:
                    exp.done = True
                    exp.error = error
        self._exports.clear()
        # Calls from the peer that are still running finish on their own (as in capnweb): their
        # results are dropped, and their own calls to the peer fail with ConnectionClosed.
        self._outbox_event.set()
        self._capacity_event.set()
        self._pulls_event.set()
        if not self._closed.done():
            self._closed.set_result(reason)


def _apply(target: Any, path: list[str | int], args: list[Any] | None) -> Any:
    """Follow a property path on a local value and call it when `args` is given."""
    obj = target
    for i, seg in enumerate(path):
        if isinstance(obj, RemoteStub):
            stub = obj
            for rest in path[i:]:
                stub = stub[rest]
            return stub if args is None else stub(*args)
        if isinstance(obj, dict):
            if seg not in obj:
                raise RemoteError("TypeError", f"no property named {seg!r}")
            obj = obj[seg]
        elif isinstance(obj, list) and type(seg) is int:
            if not -len(obj) <= seg < len(obj):
                raise RemoteError("TypeError", f"index {seg} out of range")
            obj = obj[seg]
        else:
            obj = _get_method(obj, seg)
    if args is None:
        return obj
    if isinstance(obj, RemoteStub):
        return obj(*args)
    if not callable(obj):
        raise RemoteError("TypeError", f"'{'.'.join(map(str, path))}' is not a function")
    return obj(*args)


def _get_method(obj: Any, name: str | int) -> Any:
    # Like capnweb's RpcTarget rule: only what the class defines is reachable (methods and
    # properties), never instance attributes, and nothing private.
    if type(name) is not str or name.startswith("_") or inspect.isroutine(obj):
        raise RemoteError("TypeError", f"RPC target has no method named {name!r}")
    if inspect.getattr_static(type(obj), name, _MISSING) is _MISSING:
        raise RemoteError("TypeError", f"RPC target has no method named {name!r}")
    return getattr(obj, name)


_MISSING: Final = object()


def _replace(value: Any, results: dict[int, Any]) -> Any:
    t = type(value)
    if t is _Pending:
        return results[id(value)]
    if t is dict:
        for k, v in value.items():
            if type(v) in (dict, list, _Pending):
                value[k] = _replace(v, results)
    elif t is list:
        for i, v in enumerate(value):
            if type(v) in (dict, list, _Pending):
                value[i] = _replace(v, results)
    elif isinstance(value, RemoteError) and value.props:
        _replace(value.props, results)
    return value


def _consume_exception(fut: asyncio.Future[Any]) -> None:
    # Results nobody awaited (released promises, closed sessions) must not warn at GC time.
    if not fut.cancelled():
        fut.exception()


def _log_unobserved(exp: _Export) -> None:
    logger.warning(
        "call %d from the peer failed and nobody asked for its result: %r", exp.id, exp.error
    )


def _preview(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
