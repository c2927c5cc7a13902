"""``MirrorProcessor``: a ``StreamProcessor`` whose rows and checkpoint live in the mirror file.

Public API:

- ``MirrorProcessor(db, subscription_key="")``: subclasses implement two hooks and the
  ``StreamProcessor`` ones (``consumes``, ``validate_event``, ``initial_state``,
  ``parse_state`` / ``dump_state``):
  - ``plan_rows(events, entry_state) -> (rows, exit_state)``: pure, no database: what to write
    for the batch's consumed events (at least one, in offset order) and the state after them;
    it is the processor's reduction (``reduce`` is not used);
  - ``write_rows(conn, rows)``: execute those rows inside an open transaction (never commit).
- ``PlannedBatch``: an ``EventBatch`` whose reduction is its ``rows`` (None when no event of it
  is consumed: only the checkpoint is written) instead of per-event ``reduced`` ones (empty).
- The ``StreamProcessor`` steps, the same for every host: ``stage(...)``, then ``plan(staged)
  -> PlannedBatch`` (``plan_rows`` on the consumed events), ``write_batch(conn, planned)`` (the
  one place that writes a processor's rows together with its ``processor_state`` checkpoint,
  inside the caller's transaction), then ``advance(state, offset)`` after the commit.
- ``plan_batch(events, stream_max_offset=None, start=None) -> PlannedBatch | None``: ``stage``
  then ``plan``; None when no event is new. Runs outside any transaction, in any thread, so a
  host can plan the next batch while the current one is being written.
- ``ingest`` runs those steps, planning and writing in ONE transaction in a worker thread, and
  only then advances the in-memory state. It runs no async hook (``process_event_batch``,
  ``process_event``): a mirror processor's effect is its rows, written with its checkpoint,
  as ``MirrorWriter`` writes them. ``load_sync()`` reads the checkpoint from a synchronous
  caller.

Used on their own (each processor its own transaction) or composed by
``mirror.processors.mirror_writer.MirrorWriter`` (all processors in one transaction).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import apsw

from mirror.db import MirrorDb
from mirror.processor import EventBatch, StagedBatch, StoredState, StreamProcessor
from mirror.types import Event

S = TypeVar("S")


@dataclass(slots=True)
class PlannedBatch(EventBatch[S]):
    """A mirror processor's planned batch: the rows of its consumed events (None when there is
    none) and the state after them. Valid only from where it was staged."""

    rows: Any = field(kw_only=True)


class MirrorProcessor(StreamProcessor[S]):
    """Base for processors that project into the mirror database."""

    def __init__(self, db: MirrorDb, subscription_key: str = "") -> None:
        super().__init__(subscription_key=subscription_key)
        self.db = db

    def plan_rows(self, events: Sequence[Event], entry_state: S) -> tuple[Any, S]:
        """The rows of ``events`` (consumed, new, in offset order) from ``entry_state``, and
        the state after them. Pure: no database, no mutation of ``entry_state``."""
        raise NotImplementedError

    def write_rows(self, conn: apsw.Connection, rows: Any) -> None:
        """Execute rows from ``plan_rows`` inside an open transaction; must not commit."""
        raise NotImplementedError

    def plan(self, staged: StagedBatch[S]) -> PlannedBatch[S]:
        rows, exit_state = (
            self.plan_rows(staged.consumed, staged.entry_state)
            if staged.consumed
            else (None, staged.entry_state)
        )
        return PlannedBatch(
            events=staged.events,
            reduced=[],
            entry_state=staged.entry_state,
            exit_state=exit_state,
            stream_max_offset=staged.stream_max_offset,
            checkpoint_offset=staged.checkpoint_offset,
            rows=rows,
        )

    def plan_batch(
        self,
        events: Sequence[Event],
        stream_max_offset: int | None = None,
        start: tuple[int, S] | None = None,
    ) -> PlannedBatch[S] | None:
        """Stage and plan the events past the checkpoint, or past ``start`` when it is given."""
        staged = self.stage(events, stream_max_offset, start)
        return None if staged is None else self.plan(staged)

    def write_batch(self, conn: apsw.Connection, planned: PlannedBatch[S]) -> None:
        """Rows and checkpoint of a planned batch (inside the caller's transaction)."""
        if planned.rows is not None:
            self.write_rows(conn, planned.rows)
        self.db.write_checkpoint(
            self.slug,
            self.subscription_key,
            self.dump_state(planned.exit_state),
            planned.checkpoint_offset,
        )

    def load_sync(self) -> None:
        """Read the checkpoint now (blocking); a no-op once loaded."""
        if self.loaded:
            return
        stored = self.db.read_checkpoint(self.slug, self.subscription_key)
        if stored is None:
            self.load_from(self.initial_state(), 0)
        else:
            self.load_from(self.parse_state(stored.state), stored.offset)

    async def read_checkpoint(self) -> StoredState | None:
        return await asyncio.to_thread(self.db.read_checkpoint, self.slug, self.subscription_key)

    async def ingest(self, events: Sequence[Event], stream_max_offset: int | None = None) -> None:
        async with self.lock:
            await self._ensure_loaded()
            planned = await asyncio.to_thread(self._plan_and_write, events, stream_max_offset)
            if planned is not None:
                self.advance(planned.exit_state, planned.checkpoint_offset)

    def _plan_and_write(
        self, events: Sequence[Event], stream_max_offset: int | None
    ) -> PlannedBatch[S] | None:
        planned = self.plan_batch(events, stream_max_offset)
        if planned is not None:
            with self.db.transaction() as conn:
                self.write_batch(conn, planned)
        return planned
