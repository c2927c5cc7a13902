"""``MirrorProcessor``: a ``StreamProcessor`` whose rows and checkpoint live in the mirror file.

Public API:

- ``MirrorProcessor(db, subscription_key="")``: subclasses implement two hooks and the
  ``StreamProcessor`` ones:
  - ``plan_rows(events, entry_state) -> (rows, exit_state)``: pure, no database: what to write
    for the batch's new events (in offset order) and the state after them, the same state
    ``reduce`` folds to;
  - ``write_rows(conn, rows)``: execute those rows inside an open transaction (never commit).
- ``plan_batch(events, start=None) -> PlannedBatch | None``: the events past the checkpoint (or
  past ``start = (offset, state)``, where a batch planned earlier and not written yet ends),
  planned; None when none is new. Runs outside any transaction, in any thread, so a host can
  plan the next batch while the current one is being written.
- ``write_batch(conn, planned)``: the one place that writes a processor's rows together with its
  ``processor_state`` checkpoint (inside the caller's transaction).
- ``ingest`` (from ``StreamProcessor``) plans and writes in ONE transaction, in a worker thread,
  and only then advances the in-memory state. ``load_sync()`` reads the checkpoint from a
  synchronous caller.

Used on their own (each processor its own transaction) or composed by
``mirror.processors.mirror_writer.MirrorWriter`` (all processors in one transaction).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import apsw

from mirror.db import MirrorDb
from mirror.processor import EventBatch, StoredState, StreamProcessor, events_after
from mirror.types import Event

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class PlannedBatch(Generic[S]):
    """One processor's new events, planned: their rows, the state after them, the offset of
    the last one and how many there are. Valid only from where it was planned."""

    exit_state: S
    rows: Any
    last_offset: int
    count: int


class MirrorProcessor(StreamProcessor[S]):
    """Base for processors that project into the mirror database."""

    def __init__(self, db: MirrorDb, subscription_key: str = "") -> None:
        super().__init__(subscription_key=subscription_key)
        self.db = db

    def plan_rows(self, events: Sequence[Event], entry_state: S) -> tuple[Any, S]:
        """The rows of ``events`` (new, in offset order) from ``entry_state``, and the state
        after them. Pure: no database, no mutation of ``entry_state``."""
        raise NotImplementedError

    def write_rows(self, conn: apsw.Connection, rows: Any) -> None:
        """Execute rows from ``plan_rows`` inside an open transaction; must not commit."""
        raise NotImplementedError

    def plan_batch(
        self, events: Sequence[Event], start: tuple[int, S] | None = None
    ) -> PlannedBatch[S] | None:
        """Plan the events past the checkpoint, or past ``start`` when it is given."""
        base_offset, entry_state = (self.checkpoint_offset, self.state) if start is None else start
        new = events_after(events, base_offset)
        if not new:
            return None
        rows, exit_state = self.plan_rows(new, entry_state)
        return PlannedBatch(exit_state, rows, new[-1]["offset"], len(new))

    def write_batch(self, conn: apsw.Connection, planned: PlannedBatch[S]) -> None:
        """Rows and checkpoint of a planned batch (inside the caller's transaction)."""
        self.write_rows(conn, planned.rows)
        self.db.write_checkpoint(
            self.slug,
            self.subscription_key,
            self.dump_state(planned.exit_state),
            planned.last_offset,
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

    async def write_checkpoint(self, batch: EventBatch[S]) -> None:
        await asyncio.to_thread(self._commit, batch.events, batch.entry_state)

    def _commit(self, events: Sequence[Event], entry_state: S) -> None:
        planned = self.plan_batch(events, (self.checkpoint_offset, entry_state))
        if planned is None:
            return
        with self.db.transaction() as conn:
            self.write_batch(conn, planned)
