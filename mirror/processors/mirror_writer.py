"""``MirrorWriter``: the single write entry point of a mirror (raw events + feed + checkpoints).

Public API:

- ``MirrorWriter(db, subscription_key="")``: owns a ``RawEventsProcessor`` (``.raw``) and an
  ``EventFeedProcessor`` (``.feed``) over one ``MirrorDb``.
- ``await ingest(events, stream_max_offset=None, *, incarnation=None) -> int``: apply one or
  more delivered batches
  (concatenated, in offset order; overlaps and replays are dropped) in ONE SQLite transaction that
  holds the raw rows, the feed rows and both checkpoints. The work runs in a worker thread
  (``asyncio.to_thread``); the in-memory states advance on the loop, after the commit. Returns
  the number of new events. Serialized with the processors' own ``ingest`` (their locks).
- ``incarnation``: the stream's ``createdAt`` the events were read from. When given, the write
  transaction first checks that the mirror records that same incarnation and otherwise raises
  ``IncarnationMismatch`` with nothing written: rows of two incarnations never share a mirror.
  The runtime always passes it; tools that write without a server (bench, tests) may not.
- ``await plan(events, after=None, *, incarnation=None) -> WriterPlan`` and
  ``await write(plan) -> int``: the same in
  two steps, for a pipeline (catch-up) that plans the next page, in a worker thread, while the
  current one is written. ``after`` chains a plan onto an earlier one not written yet. A plan is
  written only if every processor still stands where it was planned from; otherwise (a failed
  or concurrent write) its events are planned again first, so a stale plan can never be written.
- ``await checkpoint() -> int``: the offset to resume after (``replayAfterOffset``); the lower
  of the two processors' checkpoints, 0 for an empty mirror.
- ``await reconcile(server_created_at, server_max_offset) -> ReconcileDecision``: read the local
  incarnation and checkpoint and decide (``mirror.reconcile.decide_reconcile``); it records the
  incarnation of a fresh mirror, and changes nothing else: a ``DISCARD_AND_REBUILD`` is the
  caller's to carry out (the runtime archives the old mirror, then reconciles a fresh one).
- ``await discard()``: ``MirrorDb.discard()`` plus forgetting both processors' loaded checkpoints.
- Blocking twins for synchronous callers that own the writer (bench, CLI import, a worker
  thread): ``apply_sync(events) -> int``, ``checkpoint_sync()``, ``reconcile_sync(...)``,
  ``discard_sync()``. Do not mix them with concurrent async calls on the same writer.

Why one transaction: the raw insert, the feed ops and the two checkpoint upserts share one
commit (one WAL sync point instead of four), so catch-up pays SQLite's per-transaction cost
once per chunk, and a crash can never leave rows without their checkpoint or the other way
round. Each processor goes through the ``StreamProcessor`` steps its standalone ``ingest``
runs: ``plan_batch`` (``stage``: the events past its checkpoint, its ``consumes`` filter, its
``validate_event``, a rejected event refusing the whole write; then ``plan``: its rows), then
``write_batch`` (rows + checkpoint), then ``advance`` after the commit. Planning is pure (no
transaction): the serialization, the JSONB conversion and the feed plan happen there, so the
transaction holds SQLite work only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import apsw

from mirror.db import MirrorDb
from mirror.processors.base import MirrorProcessor, PlannedBatch
from mirror.processors.event_feed import EventFeedProcessor
from mirror.processors.raw_events import RawEventsProcessor
from mirror.reconcile import ReconcileAction, ReconcileDecision, decide_reconcile
from mirror.schema import INCARNATION_KEY
from mirror.types import Event

# What one write wrote, per processor: (processor, exit state, checkpoint offset, new events).
_Written = list[tuple[MirrorProcessor[Any], Any, int, int]]


class IncarnationMismatch(Exception):
    """The events come from another incarnation of the stream than the mirror holds."""


@dataclass(frozen=True, slots=True)
class WriterPlan:
    """What one write will do: the events it was planned from and, per processor (in the
    writer's order), where it was planned from, its planned batch (None when nothing was new
    for it) and where the processor stands once the plan is written (``(offset, state)``)."""

    events: Sequence[Event]
    stream_max_offset: int | None
    incarnation: str | None
    starts: tuple[tuple[int, Any], ...]
    batches: tuple[PlannedBatch[Any] | None, ...]
    ends: tuple[tuple[int, Any], ...]


class MirrorWriter:
    """Applies event batches to every mirror processor in one transaction."""

    def __init__(self, db: MirrorDb, subscription_key: str = "") -> None:
        self.db = db
        self.raw = RawEventsProcessor(db, subscription_key)
        self.feed = EventFeedProcessor(db, subscription_key)
        # Raw rows first: a gap or a changed replay aborts there, before any feed row.
        self.processors: tuple[MirrorProcessor[Any], ...] = (self.raw, self.feed)

    # -- async API (the runtime) ----------------------------------------------------------------

    async def ingest(
        self,
        events: Sequence[Event],
        stream_max_offset: int | None = None,
        *,
        incarnation: str | None = None,
    ) -> int:
        async with self.raw.lock, self.feed.lock:
            written = await asyncio.to_thread(
                self._plan_and_write, events, stream_max_offset, incarnation
            )
            return self._advance(written)

    async def plan(
        self,
        events: Sequence[Event],
        after: WriterPlan | None = None,
        *,
        incarnation: str | None = None,
    ) -> WriterPlan:
        if after is None:
            async with self.raw.lock, self.feed.lock:
                await asyncio.to_thread(self._load)
        return await asyncio.to_thread(self._plan, events, None, after, incarnation)

    async def write(self, plan: WriterPlan) -> int:
        async with self.raw.lock, self.feed.lock:
            written = await asyncio.to_thread(self._write, plan)
            return self._advance(written)

    async def checkpoint(self) -> int:
        async with self.raw.lock, self.feed.lock:
            return await asyncio.to_thread(self.checkpoint_sync)

    async def reconcile(self, server_created_at: str, server_max_offset: int) -> ReconcileDecision:
        async with self.raw.lock, self.feed.lock:
            return await asyncio.to_thread(
                self.reconcile_sync, server_created_at, server_max_offset
            )

    async def discard(self) -> None:
        async with self.raw.lock, self.feed.lock:
            await asyncio.to_thread(self.discard_sync)

    # -- blocking API -------------------------------------------------------------------------

    def apply_sync(self, events: Sequence[Event], *, incarnation: str | None = None) -> int:
        return self._advance(self._plan_and_write(events, None, incarnation))

    def checkpoint_sync(self) -> int:
        self._load()
        return min(p.checkpoint_offset for p in self.processors)

    def reconcile_sync(self, server_created_at: str, server_max_offset: int) -> ReconcileDecision:
        self._load()
        decision = decide_reconcile(
            local_incarnation=self.db.incarnation(),
            local_checkpoint=max(p.checkpoint_offset for p in self.processors),
            local_row_count=self.db.event_count(),
            server_created_at=server_created_at,
            server_max_offset=server_max_offset,
        )
        if decision.action is ReconcileAction.RECORD_INCARNATION:
            self.db.set_incarnation(server_created_at)
        return decision

    def discard_sync(self) -> None:
        self.db.discard()
        for processor in self.processors:
            processor.reset()

    # -- machinery ------------------------------------------------------------------------------

    def _load(self) -> None:
        for processor in self.processors:
            processor.load_sync()

    def _plan(
        self,
        events: Sequence[Event],
        stream_max_offset: int | None,
        after: WriterPlan | None,
        incarnation: str | None,
    ) -> WriterPlan:
        """Plan every processor's batch (pure; any thread): from where ``after`` ends, or from
        the loaded checkpoints."""
        starts = (
            tuple((p.checkpoint_offset, p.state) for p in self.processors)
            if after is None
            else after.ends
        )
        batches = tuple(
            p.plan_batch(events, stream_max_offset, start)
            for p, start in zip(self.processors, starts, strict=True)
        )
        ends = tuple(
            start if batch is None else (batch.checkpoint_offset, batch.exit_state)
            for start, batch in zip(starts, batches, strict=True)
        )
        return WriterPlan(events, stream_max_offset, incarnation, starts, batches, ends)

    def _plan_and_write(
        self, events: Sequence[Event], stream_max_offset: int | None, incarnation: str | None
    ) -> _Written:
        self._load()
        return self._write(self._plan(events, stream_max_offset, None, incarnation))

    def _write(self, plan: WriterPlan) -> _Written:
        """SQLite part of an apply (worker thread); memory is not touched here. Each processor
        writes its rows and checkpoint, all in one transaction."""
        self._load()
        if not all(
            p.checkpoint_offset == offset and p.state is state
            for p, (offset, state) in zip(self.processors, plan.starts, strict=True)
        ):
            # Planned from a state that is gone.
            plan = self._plan(plan.events, plan.stream_max_offset, None, plan.incarnation)
        written: _Written = []
        if not any(plan.batches):
            return written
        with self.db.transaction() as conn:
            if plan.incarnation is not None:
                _check_incarnation(conn, plan.incarnation)
            for processor, batch in zip(self.processors, plan.batches, strict=True):
                if batch is not None:
                    processor.write_batch(conn, batch)
                    written.append(
                        (processor, batch.exit_state, batch.checkpoint_offset, len(batch.events))
                    )
        return written

    def _advance(self, written: _Written) -> int:
        """Advance the in-memory states after the commit; the number of new raw events."""
        for processor, state, offset, _ in written:
            processor.advance(state, offset)
        return next((count for p, _, _, count in written if p is self.raw), 0)


def _check_incarnation(conn: apsw.Connection, incarnation: str) -> None:
    rows = conn.execute(
        "SELECT value FROM mirror_meta WHERE key = ?", (INCARNATION_KEY,)
    ).fetchall()
    recorded = str(rows[0][0]) if rows else None
    if recorded != incarnation:
        raise IncarnationMismatch(
            f"events of incarnation {incarnation} cannot go into a mirror of incarnation {recorded}"
        )
