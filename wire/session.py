"""Cap'n Web sessions on asyncio: the driver around the sans-I/O `RpcProtocol`.

`RpcSession` owns what waits: futures for results, tasks running the peer's calls, and the
hand-over of messages to a transport: `receive()` (sync) takes one, `run(recv, send)` drives a
message transport (WebSocket, in-memory pipe), `take_outgoing()` serves HTTP batch. Awaiting
senders wait until the transport has taken their messages, so a slow peer slows its callers
down instead of growing a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from wire.codec import RpcTarget
from wire.dispatch import apply_path, replace_pendings
from wire.errors import ConnectionClosed, ProtocolError, RemoteError
from wire.events import (
    CallArrived,
    Event,
    ExportSettled,
    ImportSettled,
    PromiseImported,
    ResultNeedsEvaluation,
    SessionEnded,
    SessionState,
)
from wire.protocol import DEFAULT_MAX_MESSAGE_SIZE, RpcProtocol
from wire.send_progress import SendProgress
from wire.stubs import RemoteStub, RpcPromise
from wire.tables import Export, ExportKind, Import, Pending, StubRef

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "ConnectionClosed",
    "RemoteStub",
    "RpcPromise",
    "RpcSession",
    "RpcTarget",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_PENDING_CALLS: Final = 1024
_FLUSH_ON_CLOSE_SECONDS: Final = 2.0

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
        self._protocol = RpcProtocol(
            main, max_message_size=max_message_size, make_stub=lambda ref: RemoteStub(self, ref, ())
        )
        self._max_pending_calls = max_pending_calls
        self._buffered = buffered
        self._results: dict[int, asyncio.Future[Any]] = {}
        self._export_waiters: dict[Export, asyncio.Future[None]] = {}
        self._progress = SendProgress()
        self._outbox_event = asyncio.Event()
        self._capacity_event = asyncio.Event()
        self._capacity_event.set()
        self._inflight = 0
        self._pulls_event = asyncio.Event()
        self._draining = False
        self._seen_queued = 0  # messages queued when the writer was last woken
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed: asyncio.Future[BaseException] = self._loop.create_future()
        self._event_handlers: dict[type[Any], Callable[[Any], None]] = {
            CallArrived: self._on_call,
            ImportSettled: self._on_import_settled,
            ResultNeedsEvaluation: self._on_result_needs_evaluation,
            PromiseImported: self._on_promise_imported,
            ExportSettled: self._on_export_settled,
            SessionEnded: self._on_session_ended,
        }
        main_ref = StubRef(self._protocol, self._protocol.main_import, False)
        self.main = RemoteStub(self, main_ref, ())

    # ------------------------------------------------------------------ public state

    @property
    def protocol(self) -> RpcProtocol:
        """The sans-I/O state this session drives (for tests and diagnostics)."""
        return self._protocol

    @property
    def closed(self) -> asyncio.Future[BaseException]:
        """Resolves with the reason (an exception instance) once the session has ended."""
        return self._closed

    @property
    def is_closed(self) -> bool:
        return self._protocol.state is not SessionState.OPEN

    @property
    def max_message_size(self) -> int:
        return self._protocol.max_message_size

    def stats(self) -> dict[str, int]:
        """Live table entries besides the main interface (for tests and diagnostics)."""
        return self._protocol.stats()

    # ------------------------------------------------------------------ transport interface

    def receive(self, text: str | bytes) -> None:
        """Handle one incoming message (JSON text, or its UTF-8 bytes). A bad message aborts the
        session (never raises)."""
        self._process(self._protocol.receive(text))

    def take_outgoing(self) -> list[str]:
        """Remove and return every queued outgoing message (HTTP batch)."""
        out = self._protocol.data_to_send()
        self._progress.advance(len(out))
        return out

    async def wait_input_capacity(self) -> None:
        """Wait while too many calls from the peer are still running (input backpressure)."""
        while self._inflight >= self._max_pending_calls and not self.is_closed:
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
            if not self.is_closed:
                self.close(ConnectionClosed("RPC session cancelled"))
            reader.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(writer), _FLUSH_ON_CLOSE_SECONDS)
            writer.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)
        return self._closed.result()

    async def drain(self) -> None:
        """Wait until every result the peer pulled has been sent (or the session ended)."""
        self._draining = True
        while self._protocol.unresolved_pulls > 0 and not self.is_closed:
            self._pulls_event.clear()
            await self._pulls_event.wait()

    def abort(self, error: BaseException) -> None:
        """End the session because of `error`, telling the peer with `["abort", error]`."""
        self._protocol.abort(error)
        self._process()

    def close(self, reason: BaseException | None = None) -> None:
        """End the session locally without an abort message (the transport closes normally)."""
        self._protocol.close(reason)
        self._process()

    def connection_lost(self, reason: BaseException) -> None:
        """The transport is gone; fail everything pending with `ConnectionClosed`."""
        self._protocol.connection_lost(reason)
        self._process()

    # ------------------------------------------------------------------ loops

    async def _read_loop(self, recv: Receive) -> None:
        while not self.is_closed:
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
        protocol = self._protocol
        while True:
            while protocol.has_output:
                for text in protocol.data_to_send():
                    try:
                        await send(text)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        self.connection_lost(exc)
                        return
                    self._progress.advance(1)
            if self.is_closed:
                return
            self._outbox_event.clear()
            await self._outbox_event.wait()

    # ------------------------------------------------------------------ protocol events

    def _process(self, events: list[Event] | None = None) -> None:
        """Act on what the protocol reported (`events`, else `events_received()`), then wake the
        writer and `drain()`."""
        protocol = self._protocol
        if events is None:
            events = protocol.events_received()
        if events:
            handlers = self._event_handlers
            while events:
                for event in events:
                    handlers[type(event)](event)
                events = protocol.events_received()
        if protocol.queued != self._seen_queued:
            self._seen_queued = protocol.queued
            self._outbox_event.set()
        if self._draining and not protocol.unresolved_pulls:
            self._pulls_event.set()

    def _on_call(self, event: CallArrived) -> None:
        exp, value = event.export, event.value
        try:
            if type(value) is Pending:
                result = self._start_pending(value)
            elif event.pendings:
                result = self._substitute(value, event.pendings)
            else:
                result = value
        except Exception as exc:
            self._protocol.settle_export(exp, None, exc)
            return
        if inspect.isawaitable(result):
            self._spawn(exp, result)
        else:
            self._protocol.settle_export(exp, result, None)

    def _on_import_settled(self, event: ImportSettled) -> None:
        fut = self._results.pop(event.import_id, None)
        if fut is None or fut.done():
            return
        if event.error is not None:
            fut.set_exception(event.error)
        else:
            fut.set_result(event.value)

    def _on_result_needs_evaluation(self, event: ResultNeedsEvaluation) -> None:
        async def runner() -> None:
            try:
                result = await self._substitute(event.value, event.pendings)
            except Exception as exc:
                self._protocol.settle_import(event.imp, None, exc)
            else:
                self._protocol.settle_import(event.imp, result, None)
            self._process()

        self._track(asyncio.create_task(runner()))

    def _on_promise_imported(self, event: PromiseImported) -> None:
        promise = event.pending.promise
        assert promise is not None
        fut = self._new_result_future()
        self._results[promise.id] = fut
        event.pending.future = fut

    def _on_export_settled(self, event: ExportSettled) -> None:
        waiter = self._export_waiters.pop(event.export, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _on_session_ended(self, event: SessionEnded) -> None:
        closed_error = self._protocol.closed_error
        for fut in self._results.values():
            if not fut.done():
                fut.set_exception(closed_error())
        self._results.clear()
        self._progress.fail_all(closed_error)
        for waiter in self._export_waiters.values():
            if not waiter.done():
                waiter.set_result(None)
        self._export_waiters.clear()
        self._outbox_event.set()
        self._capacity_event.set()
        self._pulls_event.set()
        if not self._closed.done():
            self._closed.set_result(event.reason)

    # ------------------------------------------------------------------ evaluation

    def _start_pending(self, p: Pending) -> Any:
        """Evaluate now when possible; otherwise return an awaitable."""
        if p.promise is not None:
            return asyncio.shield(p.future)
        exp = p.export
        assert exp is not None
        if exp.kind is ExportKind.PUSH or p.arg_pendings:
            return self._evaluate_later(p)
        if exp.kind is ExportKind.MAIN and exp.target is None:
            raise RemoteError("Error", "This connection has no main object.")
        return apply_path(exp.target, p.path, p.args)

    async def _evaluate_later(self, p: Pending) -> Any:
        args = p.args
        if p.arg_pendings:
            args = await self._substitute(args, p.arg_pendings)
        exp = p.export
        assert exp is not None
        if not exp.done:
            waiter = self._export_waiters.get(exp)
            if waiter is None:
                waiter = self._loop.create_future()
                self._export_waiters[exp] = waiter
                self._protocol.await_export(exp)
            await asyncio.shield(waiter)
        if exp.error is not None:
            raise exp.error
        target = exp.value if exp.kind is ExportKind.PUSH else exp.target
        result = apply_path(target, p.path, args)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _substitute(self, value: Any, pendings: list[Pending]) -> Any:
        results: dict[int, Any] = {}
        for p in pendings:
            r = self._start_pending(p)
            if inspect.isawaitable(r):
                r = await r
            results[id(p)] = r
        return replace_pendings(value, results)

    def _spawn(self, exp: Export, awaitable: Awaitable[Any]) -> None:
        self._inflight += 1

        async def runner() -> None:
            try:
                value = await awaitable
            except Exception as exc:
                self._protocol.settle_export(exp, None, exc)
            else:
                self._protocol.settle_export(exp, value, None)
            finally:
                self._inflight -= 1
                self._capacity_event.set()
            self._process()

        task = asyncio.create_task(runner())
        if inspect.iscoroutine(awaitable):
            # A task cancelled before its first step (session torn down at once) never awaits
            # the call; close it so it does not linger as a never-awaited coroutine.
            coroutine = awaitable
            task.add_done_callback(lambda t: coroutine.close() if t.cancelled() else None)
        self._track(task)

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ our calls (stubs)

    def _new_result_future(self) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = self._loop.create_future()
        fut.add_done_callback(_consume_exception)
        return fut

    def _call(self, ref: StubRef, path: tuple[str | int, ...], args: Any) -> RpcPromise:
        imp = self._protocol.call(ref, path, args)
        fut = self._new_result_future()
        self._results[imp.id] = fut
        self._outbox_event.set()
        return RpcPromise(self, imp, fut)

    async def _notify(self, ref: StubRef, path: tuple[str | int, ...], args: Any) -> None:
        seq = self._protocol.notify(ref, path, args)
        self._outbox_event.set()
        await self._flush(seq)

    async def _flush(self, seq: int) -> None:
        """Wait until message number `seq` has been handed to the transport."""
        if self._buffered or self._progress.sent >= seq:
            return
        if self.is_closed:
            raise self._protocol.closed_error()
        await self._progress.wait(seq)

    def _pull(self, imp: Import, fut: asyncio.Future[Any]) -> int | None:
        if fut.done():
            return None
        seq = self._protocol.pull(imp)
        if seq is not None:
            self._outbox_event.set()
        return seq

    async def _await_import(self, imp: Import, fut: asyncio.Future[Any]) -> Any:
        seq = self._pull(imp, fut)
        if seq is not None:
            await self._flush(seq)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            # The caller gave up (e.g. a deadline): the peer need not send the result.
            self._release_push(imp)
            raise

    def _release_push(self, imp: Import) -> None:
        self._protocol.release_push(imp)
        self._process()

    def _release_ref(self, ref: StubRef) -> None:
        ref.release()
        self._process()


def _consume_exception(fut: asyncio.Future[Any]) -> None:
    # Results nobody awaited (released promises, closed sessions) must not warn at GC time.
    if not fut.cancelled():
        fut.exception()
