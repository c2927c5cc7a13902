"""What a runtime that does not write the mirror runs: the server probe, and discarding.

Public API:

- ``await probe_server(client, publisher, timing)``: a follower's ``connection`` is its own
  liveness probe of the server (``client()`` anew each time: the token may have changed):
  ``subscribed`` while the server answers (the leader holds the subscription), ``reconnecting``
  while it does not, ``unauthorized`` while it refuses the token; every ``probe_interval``.
- ``await discard_unowned(mirror_file, subscription_key) -> bool``: discard an existing mirror
  this process does not write, under the writer lock; False if another process holds it.
- ``await set_search_unowned(mirror_file, enabled) -> bool``: the same for the mirror's search
  index setting (``mirror.search.indexer.set_search_enabled``).

The file itself is watched by the runtime's ``mirror.mirror_watcher.MirrorWatcher`` in every
role (it follows a file the writing process archived, quarantined or rebuilt).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from mirror.connection_state import ConnectionState
from mirror.db import MirrorDb
from mirror.election import WriterElection
from mirror.paths import writer_lock_file
from mirror.processors import MirrorWriter
from mirror.runtime_status import RuntimeTiming
from mirror.search.indexer import set_search_enabled
from mirror.status_publisher import StatusPublisher
from mirror.writer_file import describe
from wire.stream_client import AuthError, StreamClient


async def probe_server(
    client: Callable[[], StreamClient], publisher: StatusPublisher, timing: RuntimeTiming
) -> None:
    while True:
        try:
            async with asyncio.timeout(timing.probe_deadline):
                await client().runtime_state()
        except AuthError as error:
            publisher.set(connection=ConnectionState.UNAUTHORIZED, last_error=describe(error))
        except Exception as error:
            publisher.set(
                connection=ConnectionState.RECONNECTING, last_error=f"server: {describe(error)}"
            )
        else:
            publisher.set(connection=ConnectionState.SUBSCRIBED, last_error=None)
        await asyncio.sleep(timing.probe_interval)


async def set_search_unowned(mirror_file: Path, enabled: bool) -> bool:
    """The search index setting of a mirror no process writes (False: another one does)."""
    election = WriterElection(writer_lock_file(mirror_file))
    if not election.try_acquire():
        return False
    try:

        def change() -> None:
            db = MirrorDb.open(mirror_file)
            try:
                set_search_enabled(db, enabled)
            finally:
                db.close()

        await asyncio.to_thread(change)
    finally:
        election.release()
    return True


async def discard_unowned(mirror_file: Path, subscription_key: str) -> bool:
    election = WriterElection(writer_lock_file(mirror_file))
    if not election.try_acquire():
        return False
    try:

        def discard() -> None:
            db = MirrorDb.open(mirror_file)
            try:
                MirrorWriter(db, subscription_key).discard_sync()
            finally:
                db.close()

        await asyncio.to_thread(discard)
    finally:
        election.release()
    return True
