"""Decode hooks for one incoming message: reference forms become table entries and `Pending`
values to evaluate (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wire.codec import decode_args
from wire.errors import ProtocolError
from wire.events import Event, PromiseImported
from wire.tables import ExportKind, Import, Pending, SessionTables

__all__ = ["RefDecoder"]


class RefDecoder:
    """`DecodeHooks` over a session's tables; collects the values that need evaluation in
    `pendings` and reports peer promises to `events`. `make_stub(imp)` makes the value that
    stands for a stub the peer exported (one owning reference)."""

    __slots__ = ("events", "make_stub", "pendings", "tables")

    def __init__(
        self, tables: SessionTables, events: list[Event], make_stub: Callable[[Import], Any]
    ) -> None:
        self.tables = tables
        self.events = events
        self.make_stub = make_stub
        self.pendings: list[Pending] = []

    def on_import(self, kind: str, id: int, path: list[str | int] | None, args: Any) -> Any:
        exp = self.tables.exports.get(id)
        if exp is None:
            raise ProtocolError(f"no such entry on exports table: {id}")
        if kind == "import" and not path and args is None and exp.kind is not ExportKind.PUSH:
            return exp.target
        arg_values = None
        arg_pendings = None
        if args is not None:
            inner = RefDecoder(self.tables, self.events, self.make_stub)
            arg_values = decode_args(args, inner)
            arg_pendings = inner.pendings or None
        p = Pending(exp, path or [], arg_values, arg_pendings)
        self.pendings.append(p)
        return p

    def on_export(self, id: int) -> Any:
        return self.make_stub(self.tables.add_peer_stub(id))

    def on_promise(self, id: int) -> Any:
        p = Pending(None, [], None, None, self.tables.add_peer_promise(id))
        self.events.append(PromiseImported(p))
        self.pendings.append(p)
        return p
