"""What the sans-I/O protocol (wire.protocol) reports to its driver, and its session states."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from wire.tables import Export, Import, Pending

__all__ = [
    "TRANSITIONS",
    "CallArrived",
    "Event",
    "ExportSettled",
    "ImportSettled",
    "PromiseImported",
    "ResultNeedsEvaluation",
    "SessionEnded",
    "SessionState",
]


class SessionState(Enum):
    OPEN = "open"
    ABORTED = "aborted"  # ended by an abort: ours (frame queued for the peer) or the peer's
    CLOSED = "closed"  # ended without an abort: closed locally or the transport was lost


TRANSITIONS: Final[dict[SessionState, frozenset[SessionState]]] = {
    SessionState.OPEN: frozenset({SessionState.ABORTED, SessionState.CLOSED}),
    SessionState.ABORTED: frozenset(),
    SessionState.CLOSED: frozenset(),
}


@dataclass(slots=True)
class CallArrived:
    """The peer pushed a call (on our main object, an export or a pending push).

    `value` is the decoded expression: a `Pending` to evaluate, or a value holding the
    `pendings` to evaluate and substitute. The driver settles `export` with the outcome.
    """

    export: Export
    value: Any
    pendings: list[Pending]


@dataclass(slots=True)
class ImportSettled:
    """A result, rejection or release ended an import whose result someone may wait for."""

    import_id: int
    value: Any
    error: BaseException | None


@dataclass(slots=True)
class ResultNeedsEvaluation:
    """A result holds references that must be evaluated first (e.g. peer promises); the driver
    evaluates `pendings` inside `value` and calls `settle_import`."""

    imp: Import
    value: Any
    pendings: list[Pending]


@dataclass(slots=True)
class PromiseImported:
    """The peer sent a promise (`pending.promise`); an ImportSettled for it follows later."""

    pending: Pending


@dataclass(slots=True)
class ExportSettled:
    """An awaited push export (see `RpcProtocol.await_export`) has its outcome."""

    export: Export


@dataclass(slots=True)
class SessionEnded:
    """The session left OPEN: everything pending fails with `RpcProtocol.closed_error()`."""

    reason: BaseException


Event = (
    CallArrived
    | ImportSettled
    | ResultNeedsEvaluation
    | PromiseImported
    | ExportSettled
    | SessionEnded
)
