"""``BackgroundIndexing``: the leader keeps its mirror's search index current in its idle time.

Public API:

- ``BackgroundIndexing(*, writer, is_idle, on_damage, guarded, chunk=IDLE_CHUNK)``:
  ``writer()`` is the runtime's current ``MirrorWriter`` (or None), ``is_idle()`` says the
  connection is subscribed with no delivery waiting, ``on_damage(message)`` takes damage the
  indexer met, ``guarded(awaitable)`` runs a write to its end even if the loop is cancelled.
  - ``poke()``: there may be events to index (after a live write, once subscribed).
  - ``await run()``: the loop (the leader owns its task): while idle, one chunk of
    ``SearchIndexer.index_next`` at a time, in a worker thread, holding the writer's processor
    locks so a chunk never overlaps a write, an archive or a quarantine.

Why idle time only, in small chunks: catch-up and the live tail keep their figures. Nothing is
indexed while catching up; once subscribed, a chunk costs about 0.1 ms per event on a 1M-event
mirror, so ``IDLE_CHUNK`` events hold the writer for ~25 ms at most before a waiting delivery
gets its turn. The index is resumable (its checkpoint commits with its rows) and the per-mirror
setting (``mirror.search.indexer.set_search_enabled``) is honoured by ``index_next``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import apsw

from mirror.integrity import is_damage
from mirror.processors import MirrorWriter
from mirror.search.indexer import IndexProgress, SearchIndexer

log = logging.getLogger(__name__)

IDLE_CHUNK = 250


class BackgroundIndexing:
    def __init__(
        self,
        *,
        writer: Callable[[], MirrorWriter | None],
        is_idle: Callable[[], bool],
        on_damage: Callable[[str], None],
        guarded: Callable[[Awaitable[IndexProgress]], Awaitable[IndexProgress]],
        chunk: int = IDLE_CHUNK,
    ) -> None:
        self._guarded = guarded
        self._writer = writer
        self._is_idle = is_idle
        self._on_damage = on_damage
        self._chunk = chunk
        self._wake = asyncio.Event()

    def poke(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._is_idle():
                writer = self._writer()
                if writer is None or await self._index_chunk(writer):
                    break

    async def _index_chunk(self, writer: MirrorWriter) -> bool:
        """One chunk; True when there is nothing more to do for now."""
        async with writer.raw.lock, writer.feed.lock:
            if writer is not self._writer():
                return True  # the file was set aside meanwhile
            try:
                indexer = SearchIndexer(writer.db)
                progress = await self._guarded(asyncio.to_thread(indexer.index_next, self._chunk))
            except apsw.Error as error:
                if is_damage(error):
                    self._on_damage(str(error))
                else:
                    log.warning("search indexing of %s stopped: %s", writer.db.path, error)
                return True
        return progress.done
