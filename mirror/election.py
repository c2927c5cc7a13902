"""Writer election across processes: one exclusive file lock beside each mirror file.

Public API:

- ``WriterElection(lock_file, *, poll_interval=0.15)``: the election of one mirror in this
  process. ``lock_file`` comes from ``mirror.paths.writer_lock_file`` (its name carries the
  schema version, so a process running another schema never waits behind this one).
  - ``try_acquire() -> bool``: take the lock now if it is free (never blocks).
  - ``await wait_until_leader() -> bool``: True once this process holds the lock, trying again
    every ``poll_interval`` seconds without blocking the event loop; False when ``release`` was
    called meanwhile (a release while waiting cancels the wait; so does cancelling the task).
  - ``release()``: give the lock up (or stop waiting for it); the next waiter takes it. Safe to
    call repeatedly.
  - ``is_leader``.

The lock is an OS advisory lock (``filelock``: ``flock`` on POSIX, ``msvcrt.locking`` on
Windows), held by an open file descriptor: when the holding process dies, the OS drops it, so
there are no leases or heartbeats. Each ``WriterElection`` opens its own descriptor, so two
elections in one process exclude each other exactly like two processes do.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)


class WriterElection:
    def __init__(self, lock_file: Path, *, poll_interval: float = 0.15) -> None:
        self.lock_file = lock_file
        self.poll_interval = poll_interval
        # thread_local=False: the lock belongs to the process, whichever thread releases it.
        self._lock = FileLock(str(lock_file), thread_local=False)
        self._released = False

    @property
    def is_leader(self) -> bool:
        return self._lock.is_locked

    def try_acquire(self) -> bool:
        if self._released:
            return False
        if self._lock.is_locked:
            return True
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return False
        log.debug("won the writer lock %s", self.lock_file)
        return True

    async def wait_until_leader(self) -> bool:
        """Poll the lock until it is ours (True) or the election is released (False)."""
        while not self.try_acquire():
            if self._released:
                return False
            await asyncio.sleep(self.poll_interval)
        return True

    def release(self) -> None:
        self._released = True
        if self._lock.is_locked:
            self._lock.release(force=True)
            log.debug("released the writer lock %s", self.lock_file)
