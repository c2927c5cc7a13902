"""``MirrorWriter``: the single write entry point of a mirror (raw events + feed + checkpoints).

Public API:

- ``MirrorWriter(db, subscription_key="")``: owns a ``RawEventsProcessor`` (``.raw``) and an
  ``EventFeedProcessor`` (``.feed``) over one ``MirrorDb``.
- ``await ingest(events, stream_max_offset=None) -> int``: apply one or more delivered batches
  (concatenated, in offset order; overlaps and replays are dropped) in ONE SQLite transaction that
  holds the raw rows, the feed rows and both checkpoints. The SQLite work runs in a worker thread
  (``asyncio.to_thread``); the in-memory states advance on the loop, after the commit. Returns
  the number of new events. Serialized with the processors' own ``ingest`` (their locks).
- ``await checkpoint() -> int``: the offset to resume after (``replayAfterOffset``); the lower
  of the two processors' checkpoints, 0 for an empty mirror.
- ``await reconcile(server_created_at, server_max_offset) -> ReconcileDecision``: read the local
  incarnation and checkpoint, decide (``mirror.reconcile.decide_reconcile``), and apply the
  decision (record the incarnation, or discard and record it).
- ``await discard()``: ``MirrorDb.discard()`` plus forgetting both processors' loaded checkpoints.
- Blocking twins for synchronous callers that own the writer (bench, CLI import, a worker
  thread): ``apply_sync(events) -> int``, ``checkpoint_sync()``, ``reconcile_sync(...)``,
  ``discard_sync()``. Do not mix them with concurrent async calls on the same writer.

Why one transaction: the raw insert, the feed ops and the two checkpoint upserts share one
commit (one WAL sync point instead of four), so catch-up pays SQLite's per-transaction cost
once per chunk, and a crash can never leave rows without their checkpoint or the other way
round. Each processor writes through its own ``write_batch`` (rows + checkpoint, from its own
checkpointed state), the same code its standalone ``ingest`` uses; the feed plans with the same
pure ``plan_feed`` its ``reduce`` uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from mirror.db import MirrorDb
from mirror.processor import Event, events_after
from mirror.processors.base import MirrorProcessor
from mirror.processors.event_feed import EventFeedProcessor
from mirror.processors.raw_events import RawEventsProcessor
from mirror.reconcile import ReconcileAction, ReconcileDecision, decide_reconcile

# What one apply wrote, per processor: (processor, exit state, checkpoint offset, new events).
_Written = list[tuple[MirrorProcessor[Any], Any, int, int]]


class MirrorWriter:
    """Applies event batches to every mirror processor in one transaction."""

    def __init__(self, db: MirrorDb, subscription_key: str = "") -> None:
        self.db = db
        self.raw = RawEventsProcessor(db, subscription_key)
        self.feed = EventFeedProcessor(db, subscription_key)
        # Raw rows first: a gap or a changed replay aborts there, before any feed row.
        self.processors: tuple[MirrorProcessor[Any], ...] = (self.raw, self.feed)

    # -- async API (the runtime) ----------------------------------------------------------------

    async def ingest(self, events: Sequence[Event], stream_max_offset: int | None = None) -> int:
        async with self.raw.lock, self.feed.lock:
            written = await asyncio.to_thread(self._write, events)
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

    def apply_sync(self, events: Sequence[Event]) -> int:
        return self._advance(self._write(events))

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
        if decision.action is ReconcileAction.DISCARD_AND_REBUILD:
            self.discard_sync()
        if decision.action is not ReconcileAction.KEEP:
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

    def _write(self, events: Sequence[Event]) -> _Written:
        """SQLite part of an apply (worker thread); memory is not touched here. Each processor
        writes its rows and checkpoint for the events past its own checkpoint, all in one
        transaction."""
        self._load()
        pending = [(p, events_after(events, p.checkpoint_offset)) for p in self.processors]
        written: _Written = []
        if not any(new for _, new in pending):
            return written
        with self.db.transaction() as conn:
            for processor, new in pending:
                if new:
                    exit_state = processor.write_batch(conn, new, processor.state)
                    written.append((processor, exit_state, new[-1]["offset"], len(new)))
        return written

    def _advance(self, written: _Written) -> int:
        """Advance the in-memory states after the commit; the number of new raw events."""
        for processor, state, offset, _ in written:
            processor._advance(state, offset)
        return next((count for p, _, _, count in written if p is self.raw), 0)
