"""Cap'n Web session protocol without I/O: tables, message handling, refcounts, abort.

`RpcProtocol` never waits and owns no event loop. Feed it each incoming message with
`receive(text)`, which returns what happened (wire.events); collect what to send with
`data_to_send()`, and the events of other calls with `events_received()`. Calls we make
(`call`, `notify`, `pull`, releases) queue messages the same way. An asyncio driver
(wire.session) runs served calls and resolves futures.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from wire.codec import (
    RpcTarget,
    decode,
    dumps,
    encode,
    encode_args,
    encode_error,
    loads,
)
from wire.errors import ConnectionClosed, MessageTooLarge, ProtocolError, RemoteError, RpcError
from wire.events import (
    TRANSITIONS,
    CallArrived,
    Event,
    ExportSettled,
    ImportSettled,
    ResultNeedsEvaluation,
    SessionEnded,
    SessionState,
)
from wire.ref_decoder import RefDecoder
from wire.tables import (
    Export,
    ExportKind,
    Handle,
    Import,
    ImportKind,
    SessionTables,
    StubRef,
)

__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "RpcProtocol"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_SIZE: Final = 32 * 1024 * 1024

_RESULT_KINDS: Final = (ImportKind.PUSH, ImportKind.PROMISE)


class RpcProtocol:
    """The state of one Cap'n Web session.

    `main` is the object the peer sees as import 0 (None: the peer can call nothing).
    `make_stub(ref)` turns a reference to a stub the peer exported into the value handed to
    the application (the driver makes a `RemoteStub`).
    """

    def __init__(
        self,
        main: object | None,
        *,
        make_stub: Callable[[StubRef], Any],
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        self.max_message_size = max_message_size
        self._make_stub = make_stub
        self._stub_factory = self._new_stub  # bound once: a decoder is made per message
        self._tables = SessionTables(main)
        self.main_import = self._tables.main_import
        self._outbox: deque[str] = deque()
        self._events: list[Event] = []
        self.queued = 0  # messages queued so far: a message's number in the outgoing order
        self.unresolved_pulls = 0
        self.state = SessionState.OPEN
        self.closed_reason: BaseException | None = None
        self._handlers: dict[str, Callable[[list[Any]], None]] = {
            "push": self._on_push,
            "pull": self._on_pull,
            "release": self._on_release,
            "abort": self._on_abort,
        }

    # ------------------------------------------------------------------ driver interface

    def data_to_send(self) -> list[str]:
        """Remove and return the queued outgoing messages, oldest first."""
        out = list(self._outbox)
        self._outbox.clear()
        return out

    def events_received(self) -> list[Event]:
        """Remove and return what happened since the last call, in order."""
        events = self._events
        if events:
            self._events = []
        return events

    @property
    def has_output(self) -> bool:
        return bool(self._outbox)

    def stats(self) -> dict[str, int]:
        """Live table entries besides the main interface (for tests and diagnostics)."""
        return self._tables.stats()

    def closed_error(self) -> ConnectionClosed:
        """A fresh error for whatever fails because the session has ended."""
        reason = self.closed_reason
        if isinstance(reason, ConnectionClosed):
            return ConnectionClosed(str(reason), reason.reason or reason)
        return ConnectionClosed(f"RPC session ended: {reason}", reason)

    def receive(self, text: str | bytes) -> list[Event]:
        """Handle one incoming message (JSON text, or its UTF-8 bytes); return the events it
        caused (as `events_received()` would). A bad message aborts the session (never raises).
        """
        if self.state is not SessionState.OPEN:
            pass
        elif len(text) > self.max_message_size:
            unit = "bytes" if isinstance(text, bytes) else "characters"
            self.abort(
                ProtocolError(
                    f"incoming message of {len(text)} {unit} exceeds the limit of "
                    f"{self.max_message_size}"
                )
            )
        else:
            try:
                msg = loads(text)
                if type(msg) is not list or not msg or type(msg[0]) is not str:
                    raise ProtocolError(f"bad RPC message: {_preview(msg)}")
                if msg[0] == "resolve" or msg[0] == "reject":
                    # The frame is one array; the rest of the text bounds the result's arrays.
                    brackets = text.count(b"[") if isinstance(text, bytes) else text.count("[")
                    self._on_resolve(msg, brackets - 1)
                else:
                    handler = self._handlers.get(msg[0])
                    if handler is None:
                        raise ProtocolError(f"unknown message type {msg[0]!r}: {_preview(msg)}")
                    handler(msg)
            except ProtocolError as exc:
                self.abort(exc)
        # events_received(), inlined: this runs for every message.
        events = self._events
        if events:
            self._events = []
        return events

    def abort(self, error: BaseException) -> None:
        """End the session because of `error`, telling the peer with `["abort", error]`."""
        if self.state is not SessionState.OPEN:
            return
        if isinstance(error, ProtocolError):
            logger.warning("aborting RPC session: %s", error)
        with contextlib.suppress(TypeError, ValueError):
            self._enqueue(dumps(["abort", encode_error(error)]))
        self._end(SessionState.ABORTED, error)

    def close(self, reason: BaseException | None = None) -> None:
        """End the session locally without an abort message."""
        self._end(SessionState.CLOSED, reason or ConnectionClosed("RPC session closed"))

    def connection_lost(self, reason: BaseException) -> None:
        """The transport is gone; everything pending fails with `ConnectionClosed`."""
        if not isinstance(reason, ConnectionClosed):
            wrapped = ConnectionClosed(f"connection lost: {reason}", reason)
            wrapped.__cause__ = reason
            reason = wrapped
        self._end(SessionState.CLOSED, reason)

    # ------------------------------------------------------------------ our calls

    def call(self, ref: StubRef, path: tuple[str | int, ...], args: Any) -> Import:
        """Push a call on `ref` (+ `path`); returns the import that will hold its result."""
        text = self._build_push(ref, path, args)
        imp = self._tables.add_push_import()
        self._enqueue(text)
        return imp

    def notify(self, ref: StubRef, path: tuple[str | int, ...], args: Any) -> int:
        """Push a call and release it at once (no result wanted); returns the release's
        number in the outgoing order."""
        text = self._build_push(ref, path, args)
        import_id = self._tables.take_import_id()
        self._enqueue(text)
        return self._enqueue(dumps(["release", import_id, 1]))

    def pull(self, imp: Import) -> int | None:
        """Ask for a push's result; returns the pull's number, or None if nothing was sent."""
        if imp.pulled or not self._tables.holds(imp):
            return None
        self._check_open()
        imp.pulled = True
        return self._enqueue(dumps(["pull", imp.id]))

    def release_push(self, imp: Import) -> None:
        """Give up a push's result; whoever waits for it gets `RpcError`."""
        self._finish_import(imp, None, RpcError(f"promise {imp.id} was released"))

    def drop_local_ref(self, imp: Import) -> None:
        imp.local_refs -= 1
        if imp.local_refs > 0 or not self._tables.holds(imp):
            return
        del self._tables.imports[imp.id]
        if self.state is SessionState.OPEN:
            self._enqueue(dumps(["release", imp.id, imp.remote_refcount]))

    def settle_import(self, imp: Import, value: Any, error: BaseException | None) -> None:
        """The outcome of a `ResultNeedsEvaluation`, once the driver has evaluated it."""
        self._finish_import(imp, value, error)

    # ------------------------------------------------------------------ calls from the peer

    def await_export(self, exp: Export) -> None:
        """Someone waits for push `exp` to settle: report it with ExportSettled."""
        exp.awaited = True

    def settle_export(self, exp: Export, value: Any, error: BaseException | None) -> None:
        """The outcome of a call the peer pushed; sent at once if the peer pulled it."""
        if exp.done:
            return
        exp.done = True
        exp.value = value
        exp.error = error
        if exp.awaited:
            self._events.append(ExportSettled(exp))
        if self.state is not SessionState.OPEN:
            return
        if exp.pulled and not exp.released:
            self._send_resolution(exp)
            self._pull_done()
        elif error is not None and exp.released:
            _log_unobserved(exp)

    # EncodeHooks
    def encode_ref(self, value: object) -> Any:
        if isinstance(value, Handle):
            protocol, imp, path = value._reference()
            if protocol is not self:
                raise TypeError("cannot pass a stub from another RPC session")
            if not self._tables.holds(imp):
                raise TypeError(f"cannot pass stub {imp.id}: it was released")
            if (imp.kind is ImportKind.STUB or imp.kind is ImportKind.MAIN) and not path:
                return ["import", imp.id]
            return ["pipeline", imp.id, list(path)] if path else ["pipeline", imp.id]
        if isinstance(value, RpcTarget) or callable(value):
            return ["export", self._tables.add_local_export(value)]
        raise TypeError(f"cannot serialize value of type {type(value).__name__}")

    # ------------------------------------------------------------------ sending

    def _enqueue(self, text: str) -> int:
        self._outbox.append(text)
        self.queued += 1
        return self.queued

    def _check_open(self) -> None:
        if self.state is not SessionState.OPEN:
            raise self.closed_error()

    def _encode_value(self, value: Any) -> Any:
        start = self._tables.next_export
        try:
            return encode(value, self)
        except BaseException:
            self._tables.unexport_since(start)
            raise

    def _build_push(self, ref: StubRef, path: tuple[str | int, ...], args: Any) -> str:
        self._check_open()
        imp = ref.imp
        if ref.released or not self._tables.holds(imp):
            if imp.kind is ImportKind.PUSH:
                raise RpcError(
                    f"promise {imp.id} was already awaited or released; "
                    "call methods on its result instead"
                )
            raise RpcError(f"stub {imp.id} was already released")
        start = self._tables.next_export
        try:
            expr = ["pipeline", imp.id, list(path), encode_args(args, self)]
            text = dumps(["push", expr])
        except BaseException:
            self._tables.unexport_since(start)
            raise
        if len(text) > self.max_message_size:
            self._tables.unexport_since(start)
            raise MessageTooLarge(
                f"call message of {len(text)} characters exceeds the limit of "
                f"{self.max_message_size}"
            )
        return text

    def _send_resolution(self, exp: Export) -> None:
        if exp.resolution_sent:
            return
        exp.resolution_sent = True
        if exp.error is not None:
            if not isinstance(exp.error, RemoteError):
                logger.debug("call %d failed: %r", exp.id, exp.error)
            text = dumps(["reject", exp.id, encode_error(exp.error)])
        else:
            start = self._tables.next_export
            try:
                text = dumps(["resolve", exp.id, self._encode_value(exp.value)])
            except TypeError as exc:
                text = dumps(["reject", exp.id, encode_error(exc)])
            if len(text) > self.max_message_size:
                self._tables.unexport_since(start)
                size = len(text)
                message = (
                    f"result of {size} characters exceeds the message size limit "
                    f"of {self.max_message_size}"
                )
                text = dumps(["reject", exp.id, ["error", "RangeError", message]])
        self._enqueue(text)

    def _pull_done(self) -> None:
        if self.unresolved_pulls > 0:
            self.unresolved_pulls -= 1

    def _finish_import(self, imp: Import, value: Any, error: BaseException | None) -> None:
        if not self._tables.holds(imp):
            return
        del self._tables.imports[imp.id]
        self._events.append(ImportSettled(imp.id, value, error))
        if self.state is SessionState.OPEN:
            self._enqueue(dumps(["release", imp.id, imp.remote_refcount]))

    # ------------------------------------------------------------------ incoming messages

    def _on_push(self, msg: list[Any]) -> None:
        if len(msg) != 2:
            raise ProtocolError(f"bad push message: {_preview(msg)}")
        exp = self._tables.add_push_export()
        dec = RefDecoder(self._tables, self._events, self._stub_factory)
        value = decode(msg[1], dec)
        self._events.append(CallArrived(exp, value, dec.pendings))

    def _on_pull(self, msg: list[Any]) -> None:
        if len(msg) != 2 or type(msg[1]) is not int:
            raise ProtocolError(f"bad pull message: {_preview(msg)}")
        exp = self._tables.exports.get(msg[1])
        if exp is None:
            raise ProtocolError(f"pull of unknown export id {msg[1]}")
        if exp.kind is not ExportKind.PUSH:
            raise ProtocolError(f"pull of export {msg[1]}, which is not a promise")
        if exp.pulled:
            return
        exp.pulled = True
        if exp.done:
            self._send_resolution(exp)
        else:
            self.unresolved_pulls += 1

    def _on_resolve(self, msg: list[Any], arrays: int) -> None:
        if len(msg) != 3 or type(msg[1]) is not int:
            raise ProtocolError(f"bad {msg[0]} message: {_preview(msg)}")
        import_id: int = msg[1]
        imp = self._tables.imports.get(import_id)
        if imp is None or imp.kind not in _RESULT_KINDS:
            if imp is None and self._tables.released_already(import_id):
                return  # we released it already; a late answer is allowed
            raise ProtocolError(f"{msg[0]} for unknown import id {import_id}")
        dec = RefDecoder(self._tables, self._events, self._stub_factory)
        value = decode(msg[2], dec, arrays=arrays)
        if msg[0] == "reject":
            error = value if isinstance(value, BaseException) else None
            if error is None:
                error = RemoteError("Error", f"call rejected with a non-error value: {value!r}")
            self._finish_import(imp, None, error)
        elif dec.pendings:
            self._events.append(ResultNeedsEvaluation(imp, value, dec.pendings))
        else:
            self._finish_import(imp, value, None)

    def _on_release(self, msg: list[Any]) -> None:
        if len(msg) != 3 or type(msg[1]) is not int or type(msg[2]) is not int:
            raise ProtocolError(f"bad release message: {_preview(msg)}")
        export_id, refcount = msg[1], msg[2]
        exp = self._tables.exports.get(export_id)
        if exp is None:
            raise ProtocolError(f"release of unknown export id {export_id}")
        if refcount <= 0 or refcount > exp.refcount:
            raise ProtocolError(
                f"release of export {export_id} with refcount {refcount} (held: {exp.refcount})"
            )
        exp.refcount -= refcount
        if exp.refcount > 0:
            return
        del self._tables.exports[export_id]
        exp.released = True
        if exp.kind is ExportKind.PUSH and exp.pulled and not exp.resolution_sent:
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
        self._end(SessionState.ABORTED, reason)

    def _new_stub(self, imp: Import) -> Any:
        return self._make_stub(StubRef(self, imp, True))

    # ------------------------------------------------------------------ shutdown

    def _end(self, state: SessionState, reason: BaseException) -> None:
        if state not in TRANSITIONS[self.state]:
            return  # already ended: the first reason stands
        self.state = state
        self.closed_reason = reason
        error = self.closed_error()
        tables = self._tables
        tables.imports = {0: self.main_import} if 0 in tables.imports else {}
        for exp in tables.exports.values():
            if exp.awaited and not exp.done:
                exp.done = True
                exp.error = error
        tables.exports.clear()
        # Calls from the peer that are still running finish on their own (as in capnweb): their
        # results are dropped, and their own calls to the peer fail with ConnectionClosed.
        self._events.append(SessionEnded(reason))


def _log_unobserved(exp: Export) -> None:
    logger.warning(
        "call %d from the peer failed and nobody asked for its result: %r", exp.id, exp.error
    )


def _preview(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
