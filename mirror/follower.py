"""What a runtime that does not write the mirror runs: the file watch and the server probe.

Public API:

- ``await watch_file(live, publisher, poll)``: followers and offline runtimes: open the mirror
  file once it exists (dropping the "no local mirror" notice) and follow a replaced file (an
  archive, a quarantine or a rebuild by the writing process), which clears the views.
- ``await probe_server(client, publisher, timing)``: a follower's ``connection`` is its own
  liveness probe of the server (``client()`` anew each time: the token may have changed):
  ``subscribed`` while the server answers (the leader holds the subscription), ``reconnecting``
  while it does not, ``unauthorized`` while it refuses the token; every ``probe_interval``.
- ``await discard_unowned(mirror_file, subscription_key) -> bool``: discard an existing mirror
  this process does not write, under the writer lock; False if another process holds it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from mirror.connection_state import ConnectionState
from mirror.db import MirrorDb
from mirror.election import WriterElection
from mirror.live_binding import LiveBinding
from mirror.paths import writer_lock_file
from mirror.processors import MirrorWriter
from mirror.runtime_status import NO_LOCAL_MIRROR_NOTICE, RuntimeTiming
from mirror.status_publisher import StatusPublisher
from mirror.writer_file import describe
from wire.stream_client import AuthError, StreamClient


async def watch_file(live: LiveBinding, publisher: StatusPublisher, poll: float) -> None:
    while True:
        opened_before = live.is_open
        if live.ensure_open():
            if live.refresh():
                publisher.cleared(publisher.status.notice)
            if not opened_before and publisher.status.notice == NO_LOCAL_MIRROR_NOTICE:
                publisher.set(notice=None)
        await asyncio.sleep(poll)


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
