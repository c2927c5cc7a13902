"""Entries of a Cap'n Web session's import and export tables (PROTOCOL.md §7): plain data.

`RpcProtocol` (wire.protocol) owns the tables; the asyncio driver (wire.session) reads entries
it is handed in events but keeps its futures in tables of its own.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wire.protocol import RpcProtocol

__all__ = ["Export", "ExportKind", "Handle", "Import", "ImportKind", "Pending", "StubRef"]


class ImportKind(Enum):
    MAIN = "main"  # the peer's main interface (id 0)
    PUSH = "push"  # a call we pushed; its result is pending
    STUB = "stub"  # an object the peer exported to us
    PROMISE = "promise"  # a promise the peer exported and will resolve


class ExportKind(Enum):
    MAIN = "main"  # our main object (id 0)
    PUSH = "push"  # a call the peer pushed; its result is ours to send
    STUB = "stub"  # a local object we exported by reference


class Import:
    """An entry of our import table (something the peer owns)."""

    __slots__ = ("id", "kind", "local_refs", "pulled", "remote_refcount")

    def __init__(self, id: int, kind: ImportKind) -> None:
        self.id = id
        self.kind = kind
        self.remote_refcount = 1
        self.local_refs = 0
        self.pulled = False


class Export:
    """An entry of our export table (something the peer may call or pull)."""

    __slots__ = (
        "awaited",
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
    )

    def __init__(self, id: int, kind: ExportKind, target: object = None) -> None:
        self.id = id
        self.kind = kind
        self.target = target
        self.refcount = 1
        self.done = kind is not ExportKind.PUSH
        self.value: Any = None
        self.error: BaseException | None = None
        self.pulled = False
        self.released = False
        self.resolution_sent = False
        # A pipelined call waits for this push to settle: settling it emits ExportSettled.
        self.awaited = False


class StubRef:
    """One reference to an import; `owning` refs count towards the peer's refcount."""

    __slots__ = ("imp", "owning", "protocol", "released")

    def __init__(self, protocol: RpcProtocol, imp: Import, owning: bool) -> None:
        self.protocol = protocol
        self.imp = imp
        self.owning = owning
        self.released = False
        if owning:
            imp.local_refs += 1

    def release(self) -> None:
        if self.owning and not self.released:
            self.released = True
            self.protocol.drop_local_ref(self.imp)


class Pending:
    """A value that must be evaluated before delivery: a call/property or a peer promise.

    `promise` is set for a peer promise; `future` is the driver's handle for its result (the
    protocol never reads it).
    """

    __slots__ = ("arg_pendings", "args", "export", "future", "path", "promise")

    def __init__(
        self,
        export: Export | None,
        path: list[str | int],
        args: list[Any] | None,
        arg_pendings: list[Pending] | None,
        promise: Import | None = None,
    ) -> None:
        self.export = export
        self.path = path
        self.args = args
        self.arg_pendings = arg_pendings
        self.promise = promise
        self.future: Any = None


class Handle:
    """Base of the values that stand for an import (stubs, promises), so the protocol can
    send them by reference without knowing the classes of the layer above."""

    __slots__ = ()

    def _reference(self) -> tuple[RpcProtocol, Import, tuple[str | int, ...]]:
        """The owning protocol, the import entry and the property path on it."""
        raise NotImplementedError
