"""``MirrorProcessor``: a ``StreamProcessor`` whose rows and checkpoint live in the mirror file.

Public API:

- ``MirrorProcessor(db, subscription_key="")``: subclasses implement
  ``write_rows(conn, events, entry_state) -> exit_state`` (SQL for the batch's new events, inside
  an open transaction; returns the state after them, the same state ``reduce`` folds to) and the
  ``StreamProcessor`` hooks. ``write_batch`` is the one place that writes a processor's rows
  together with its ``processor_state`` checkpoint. ``ingest`` does that in ONE transaction, in a
  worker thread, and only then advances the in-memory state. ``load_sync()`` reads the checkpoint
  from a synchronous caller.

Used on their own (each processor its own transaction) or composed by
``mirror.processors.mirror_writer.MirrorWriter`` (all processors in one transaction).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TypeVar

import apsw

from mirror.db import MirrorDb
from mirror.processor import Event, EventBatch, StoredState, StreamProcessor

S = TypeVar("S")


class MirrorProcessor(StreamProcessor[S]):
    """Base for processors that project into the mirror database."""

    def __init__(self, db: MirrorDb, subscription_key: str = "") -> None:
        super().__init__(subscription_key=subscription_key)
        self.db = db

    def write_rows(self, conn: apsw.Connection, events: Sequence[Event], entry_state: S) -> S:
        """Write the projection rows of ``events`` (new, in offset order) starting from
        ``entry_state`` and return the state after them. Runs inside an open transaction; must
        not commit."""
        raise NotImplementedError

    def write_batch(self, conn: apsw.Connection, events: Sequence[Event], entry_state: S) -> S:
        """Rows and checkpoint of ``events`` (inside the caller's transaction); the exit state."""
        exit_state = self.write_rows(conn, events, entry_state)
        self.db.write_checkpoint(
            self.slug, self.subscription_key, self.dump_state(exit_state), events[-1]["offset"]
        )
        return exit_state

    def load_sync(self) -> None:
        """Read the checkpoint now (blocking); a no-op once loaded."""
        if self.loaded:
            return
        stored = self.db.read_checkpoint(self.slug, self.subscription_key)
        if stored is None:
            self._set_loaded(self.initial_state(), 0)
        else:
            self._set_loaded(self.parse_state(stored.state), stored.offset)

    async def read_checkpoint(self) -> StoredState | None:
        return await asyncio.to_thread(self.db.read_checkpoint, self.slug, self.subscription_key)

    async def write_checkpoint(self, batch: EventBatch[S]) -> None:
        await asyncio.to_thread(self._commit, batch.events, batch.entry_state)

    def _commit(self, events: Sequence[Event], entry_state: S) -> None:
        with self.db.transaction() as conn:
            self.write_batch(conn, events, entry_state)
