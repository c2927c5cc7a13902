"""Archives: a mirror's earlier incarnations, kept after the stream was reset (blocking, no Qt).

Public API:

- ``archive_mirror(db) -> Path``: move the mirror that ``db`` writes aside as an archive of its
  incarnation (``mirror.paths.archive_file``) and close ``db``. The archive is a whole SQLite
  file (its WAL folded in where no other process still reads it) that records when it was
  archived (``mirror_meta`` key ``archived-at``); nothing ever writes it again: the app and the
  CLI open archives offline only. The caller then opens a fresh mirror at the same path.
- ``list_archives(mirror_path) -> list[Path]``: the archives of one mirror, oldest first.
- ``prune_archives(mirror_path, keep) -> list[Path]``: delete all but the newest ``keep``
  archives (with their -wal/-shm files); returns what it deleted.
- ``DEFAULT_KEEP_ARCHIVES`` = 3, ``ARCHIVED_AT_KEY``.

Why a rename and not a copy: it is O(1) whatever the mirror's size, and a follower process that
still has the file open keeps reading the same inode (it notices the new file at the mirror's
path by its inode and switches to it, see ``mirror.mirror_watcher``).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import apsw

from mirror.db import MirrorDb
from mirror.paths import ARCHIVE_PREFIX, archive_dir, archive_file

log = logging.getLogger(__name__)

DEFAULT_KEEP_ARCHIVES = 3
ARCHIVED_AT_KEY = "archived-at"
_SIDE_FILES = ("-wal", "-shm")


def archive_mirror(db: MirrorDb) -> Path:
    """Close ``db`` and move its file aside as the archive of its incarnation."""
    path = db.path
    incarnation = db.incarnation()
    try:
        with db.transaction() as conn:
            conn.execute(
                "INSERT INTO mirror_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (ARCHIVED_AT_KEY, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
            )
        # Fold the WAL in so the archive is one self-contained file (best effort: a follower
        # still reading keeps its WAL frames, which then move along with the file).
        db.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    except apsw.Error as error:
        log.warning("preparing %s for archiving: %s", path, error)
    finally:
        db.close()
    target = archive_file(path, incarnation)
    target.parent.mkdir(parents=True, exist_ok=True)
    counter = 1
    while target.exists():
        target = target.with_name(f"{target.stem}-{counter}{target.suffix}")
        counter += 1
    os.replace(path, target)
    for suffix in _SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, target.with_name(target.name + suffix))
    log.info("archived the mirror of incarnation %s as %s", incarnation, target)
    return target


def list_archives(mirror_path: Path) -> list[Path]:
    """The archived incarnations of the mirror at ``mirror_path``, oldest first."""
    folder = archive_dir(mirror_path)
    if not folder.is_dir():
        return []
    found = [file for file in folder.glob(f"{ARCHIVE_PREFIX}*.sqlite3") if file.is_file()]
    # Renames keep the file's mtime: its last write, so incarnation order.
    return sorted(found, key=lambda file: (file.stat().st_mtime, file.name))


def prune_archives(mirror_path: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` archives of ``mirror_path``."""
    archives = list_archives(mirror_path)
    doomed = archives[: max(0, len(archives) - max(0, keep))]
    for file in doomed:
        for victim in (file, *(file.with_name(file.name + s) for s in _SIDE_FILES)):
            try:
                victim.unlink(missing_ok=True)
            except OSError as error:
                log.warning("could not delete the old archive %s: %s", victim, error)
    return doomed
