"""A Cap'n Web session's import and export tables and their entries (PROTOCOL.md §7).

`RpcProtocol` (wire.protocol) owns the tables; the asyncio driver (wire.session) reads entries
it is handed in events but keeps its futures in tables of its own. Id rules: our pushes get
positive import ids 1, 2, ...; objects we export get negative ids -1, -2, ...; 0 is the main
interface; ids are never reused.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

from wire.errors import ProtocolError

if TYPE_CHECKING:
    from wire.protocol import RpcProtocol

__all__ = [
    "Export",
    "ExportKind",
    "Handle",
    "Import",
    "ImportKind",
    "Pending",
    "SessionTables",
    "StubRef",
]


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


class SessionTables:
    """The import and export tables of one session, and the ids they hand out."""

    __slots__ = (
        "exports",
        "imports",
        "lowest_peer_id",
        "main_import",
        "next_export",
        "next_import",
        "next_push",
    )

    def __init__(self, main: object | None) -> None:
        self.exports: dict[int, Export] = {0: Export(0, ExportKind.MAIN, main)}
        self.main_import = Import(0, ImportKind.MAIN)
        self.imports: dict[int, Import] = {0: self.main_import}
        self.next_import = 1
        self.next_export = -1
        self.next_push = 1
        self.lowest_peer_id = 0

    def holds(self, imp: Import) -> bool:
        return self.imports.get(imp.id) is imp

    def take_import_id(self) -> int:
        """The id of our next push."""
        import_id = self.next_import
        self.next_import += 1
        return import_id

    def add_push_import(self) -> Import:
        imp = Import(self.take_import_id(), ImportKind.PUSH)
        imp.local_refs = 1
        self.imports[imp.id] = imp
        return imp

    def add_push_export(self) -> Export:
        exp = Export(self.next_push, ExportKind.PUSH)
        self.next_push += 1
        self.exports[exp.id] = exp
        return exp

    def add_local_export(self, value: object) -> int:
        eid = self.next_export
        self.next_export -= 1
        self.exports[eid] = Export(eid, ExportKind.STUB, value)
        return eid

    def unexport_since(self, start: int) -> None:
        """Drop the exports made since `next_export` was `start` (their message was not sent)."""
        for eid in range(start, self.next_export, -1):
            self.exports.pop(eid, None)

    def add_peer_stub(self, id: int) -> Import:
        imp = self.imports.get(id)
        if imp is None:
            imp = Import(id, ImportKind.STUB)
            self.imports[id] = imp
            self.lowest_peer_id = min(self.lowest_peer_id, id)
        elif imp.kind is not ImportKind.STUB:
            raise ProtocolError(f"export id {id} is already in use by a promise")
        else:
            imp.remote_refcount += 1
        return imp

    def add_peer_promise(self, id: int) -> Import:
        if id in self.imports:
            raise ProtocolError(f"peer sent a promise reusing an existing export id {id}")
        imp = Import(id, ImportKind.PROMISE)
        imp.local_refs = 1
        self.imports[id] = imp
        self.lowest_peer_id = min(self.lowest_peer_id, id)
        return imp

    def released_already(self, import_id: int) -> bool:
        """Whether `import_id` was in use once (a late answer to it is allowed)."""
        return 0 < import_id < self.next_import or self.lowest_peer_id <= import_id < 0

    def stats(self) -> dict[str, int]:
        return {"imports": len(self.imports) - 1, "exports": len(self.exports) - 1}
