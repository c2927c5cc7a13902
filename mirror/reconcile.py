"""Reconcile decision: may the local mirror be resumed against the server's stream? (pure)

Public API:

- ``decide_reconcile(*, local_incarnation, local_checkpoint, local_row_count, server_created_at,
  server_max_offset) -> ReconcileDecision``.
- ``ReconcileDecision(action, reason)`` with ``action`` a ``ReconcileAction``:
  ``KEEP`` (resume from the checkpoint), ``RECORD_INCARNATION`` (fresh mirror: store the
  server's ``createdAt`` and replay from 0), ``DISCARD_AND_REBUILD`` (clear everything, store the
  server's ``createdAt``, replay from 0). ``reason`` is a sentence for logs and the UI.

The incarnation is the stream's ``createdAt`` (offset 1's commit time): it changes only when the
stream's storage is wiped (``reset``), unlike ``incarnationId`` which changes on every wake.
Offsets cannot be trusted across incarnations: a reset stream that grew back past the old
maximum would otherwise append its events onto stale rows without tripping the continuity
check. Rules, in order:

1. nothing local (no rows, no checkpoint) -> record the incarnation;
2. rows or a checkpoint but no recorded incarnation -> discard;
3. recorded incarnation differs from the server's -> discard;
4. the server's ``maxOffset`` is below what the mirror already holds -> discard;
5. otherwise keep and resume.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ReconcileAction(enum.Enum):
    KEEP = "keep"
    RECORD_INCARNATION = "record-incarnation"
    DISCARD_AND_REBUILD = "discard-and-rebuild"


@dataclass(frozen=True, slots=True)
class ReconcileDecision:
    action: ReconcileAction
    reason: str


def decide_reconcile(
    *,
    local_incarnation: str | None,
    local_checkpoint: int,
    local_row_count: int,
    server_created_at: str,
    server_max_offset: int,
) -> ReconcileDecision:
    """Decide what to do with the local mirror before subscribing."""
    local_high = max(local_checkpoint, local_row_count)
    if local_high <= 0:
        return ReconcileDecision(
            ReconcileAction.RECORD_INCARNATION,
            f"fresh mirror: recording server incarnation {server_created_at}",
        )
    if local_incarnation is None:
        return ReconcileDecision(
            ReconcileAction.DISCARD_AND_REBUILD,
            f"mirror holds {local_high} events but no recorded incarnation",
        )
    if local_incarnation != server_created_at:
        return ReconcileDecision(
            ReconcileAction.DISCARD_AND_REBUILD,
            f"stream was reset on the server (incarnation {local_incarnation} -> "
            f"{server_created_at})",
        )
    if server_max_offset < local_high:
        return ReconcileDecision(
            ReconcileAction.DISCARD_AND_REBUILD,
            f"server maxOffset {server_max_offset} is below the local checkpoint {local_high}",
        )
    return ReconcileDecision(
        ReconcileAction.KEEP, f"same incarnation: resuming after offset {local_checkpoint}"
    )
