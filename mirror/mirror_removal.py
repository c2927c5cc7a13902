"""Deleting a mirror file from disk, never one another process (or runtime) is writing.

Public API:

- ``disk_usage(file) -> tuple[int, float | None]``: bytes the mirror takes (with its ``-wal``
  and ``-shm``) and when it last changed (epoch seconds, None when it is gone).
- ``MirrorInUse``: the mirror's writer lock is held; ``holder_pid`` when the OS tells.
- ``delete_mirror(file, archives=())``: take the mirror's writer lock (so no runtime can start
  writing it meanwhile), delete the file, its side files and the given archive files. Raises
  ``MirrorInUse`` when the lock is held. An archive (never written) is deleted the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

from mirror.election import WriterElection
from mirror.lock_holder import lock_holder_pid
from mirror.paths import archive_dir, writer_lock_file

_SIDE_SUFFIXES = ("", "-wal", "-shm", "-journal")


class MirrorInUse(RuntimeError):
    def __init__(self, file: Path, holder_pid: int | None) -> None:
        who = f"process {holder_pid}" if holder_pid is not None else "another Streamdesk process"
        super().__init__(f"{file.name} is being written by {who}; close that stream first")
        self.holder_pid = holder_pid


def _side_files(file: Path) -> list[Path]:
    return [file.with_name(file.name + suffix) for suffix in _SIDE_SUFFIXES]


def disk_usage(file: Path) -> tuple[int, float | None]:
    size, changed = 0, None
    for part in _side_files(file):
        try:
            stat = part.stat()
        except FileNotFoundError:
            continue
        size += stat.st_size
        changed = max(changed or 0.0, stat.st_mtime)
    return size, changed


def _unlink_all(file: Path) -> None:
    for part in _side_files(file):
        part.unlink(missing_ok=True)


def delete_mirror(file: Path, archives: Sequence[Path] = ()) -> None:
    lock = writer_lock_file(file)
    election = WriterElection(lock)
    if not election.try_acquire():
        raise MirrorInUse(file, lock_holder_pid(lock))
    try:
        for archive in archives:
            _unlink_all(archive)
        _unlink_all(file)
        with contextlib.suppress(OSError):  # not empty (files it does not know): kept
            archive_dir(file).rmdir()
    finally:
        election.release()
    # The lock file stays: unlinking it could let a waiting process and a later one each hold
    # a lock on a different file of the same name.
