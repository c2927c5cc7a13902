"""Which process holds a file lock (Linux only; elsewhere nobody can say, so None).

Public API:

- ``lock_holder_pid(lock_file) -> int | None``: the id of a process holding an advisory lock on
  ``lock_file`` (the writer lock of a mirror, say), read from ``/proc/locks``; None when the file
  is unlocked, missing, or the platform does not tell.
"""

from __future__ import annotations

import os
from pathlib import Path

_PROC_LOCKS = Path("/proc/locks")


def lock_holder_pid(lock_file: Path, proc_locks: Path = _PROC_LOCKS) -> int | None:
    try:
        stat = os.stat(lock_file)
        table = proc_locks.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    wanted = (os.major(stat.st_dev), os.minor(stat.st_dev), stat.st_ino)
    for line in table.splitlines():
        # "1: FLOCK  ADVISORY  WRITE 4242 fe:00:2171955 0 EOF"; a waiter's line has "->".
        fields = line.split()
        if len(fields) < 6 or "->" in fields[1]:
            continue
        try:
            pid = int(fields[4])
            major, minor, inode = fields[5].split(":")
            device_and_inode = (int(major, 16), int(minor, 16), int(inode))
        except ValueError:
            continue
        if device_and_inode == wanted:
            return pid
    return None
