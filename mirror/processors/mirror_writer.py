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
round. The feed plan is computed from the feed's own checkpointed state with the same pure
``plan_feed`` its ``reduce`` uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from mirror.db import MirrorDb
from mirror.feed_planner import FeedState, plan_feed
from mirror.processor import Event, events_after
from mirror.processors.event_feed import EventFeedProcessor, write_feed_ops
from mirror.processors.raw_events import RawEventsProcessor, insert_events
from mirror.reconcile import ReconcileAction, ReconcileDecision, decide_reconcile


@dataclass(frozen=True, slots=True)
class _Written:
    raw_offset: int | None
    feed_state: FeedState | None
    feed_offset: int | None
    applied: int


class MirrorWriter:
    """Applies event batches to every mirror processor in one transaction."""

    def __init__(self, db: MirrorDb, subscription_key: str = "") -> None:
        self.db = db
        self.raw = RawEventsProcessor(db, subscription_key)
        self.feed = EventFeedProcessor(db, subscription_key)

    # -- async API (the runtime) ----------------------------------------------------------------

    async def ingest(self, events: Sequence[Event], stream_max_offset: int | None = None) -> int:
        async with self.raw.lock, self.feed.lock:
            written = await asyncio.to_thread(self._write, events)
            self._advance(written)
            return written.applied

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
        written = self._write(events)
        self._advance(written)
        return written.applied

    def checkpoint_sync(self) -> int:
        self._load()
        return min(self.raw.checkpoint_offset, self.feed.checkpoint_offset)

    def reconcile_sync(self, server_created_at: str, server_max_offset: int) -> ReconcileDecision:
        self._load()
        decision = decide_reconcile(
            local_incarnation=self.db.incarnation(),
            local_checkpoint=max(self.raw.checkpoint_offset, self.feed.checkpoint_offset),
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
        self.raw.reset()
        self.feed.reset()

    # -- machinery ------------------------------------------------------------------------------

    def _load(self) -> None:
        self.raw.load_sync()
        self.feed.load_sync()

    def _write(self, events: Sequence[Event]) -> _Written:
        """SQLite part of an apply (worker thread); memory is not touched here."""
        self._load()
        raw_new = events_after(events, self.raw.checkpoint_offset)
        feed_new = events_after(events, self.feed.checkpoint_offset)
        if not raw_new and not feed_new:
            return _Written(None, None, None, 0)
        plan = plan_feed(self.feed.state, feed_new) if feed_new else None
        db = self.db
        key = self.raw.subscription_key
        with db.transaction() as conn:
            # Raw rows first: a gap or a changed replay aborts here, before any feed row.
            if raw_new:
                insert_events(conn, raw_new)
                db.write_checkpoint(self.raw.slug, key, {}, raw_new[-1]["offset"])
            if plan is not None:
                write_feed_ops(conn, plan.ops)
                db.write_checkpoint(
                    self.feed.slug, key, plan.end_state.to_json(), feed_new[-1]["offset"]
                )
        return _Written(
            raw_new[-1]["offset"] if raw_new else None,
            plan.end_state if plan is not None else None,
            feed_new[-1]["offset"] if feed_new else None,
            len(raw_new),
        )

    def _advance(self, written: _Written) -> None:
        if written.raw_offset is not None:
            self.raw._advance(self.raw.state, written.raw_offset)
        if written.feed_state is not None and written.feed_offset is not None:
            self.feed._advance(written.feed_state, written.feed_offset)
