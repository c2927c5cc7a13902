"""Mirror files on disk: which stream a file holds, the install id, listing every mirror.

Public API:

- ``record_identity(db, server_url, namespace, path)``: store the stream's identity in the
  file's ``mirror_meta`` (keys ``SERVER_URL_KEY``, ``NAMESPACE_KEY``, ``PATH_KEY``), so a mirror
  can be listed and opened offline without guessing from its file name. Written by the leader
  each time it opens the file (a schema rebuild drops ``mirror_meta``).
- ``read_info(file) -> MirrorInfo | None``: a mirror file's identity and event count, read
  through a short-lived read-only connection; None for files that are not readable mirrors.
- ``list_mirrors(data_dir) -> list[MirrorInfo]``: every mirror under ``<data_dir>/mirrors``,
  each with its archived incarnations in ``archives`` (oldest first); archives whose live mirror
  is gone are listed on their own (``archived_at`` set).
- ``save_copy(source, target, on_progress=None)``: a consistent copy of a mirror as one
  standalone SQLite file (the backup API, in steps of ``COPY_STEP_PAGES`` pages, all inside one
  read transaction of the source, so the copy is the snapshot it started from however busy the
  writer is). ``on_progress(bytes_done, bytes_total)`` after every step; an exception it raises
  (a cancel) stops the copy. Refuses a target that is the mirror itself (or its
  ``-wal``/``-shm``/``-journal``), and removes its partial copy when it fails or stops.
- ``install_id(data_dir) -> str``: a random UUID created once per data directory; part of the
  subscription key, so every process of one install shares one server-side subscription.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import apsw

from mirror.archive import ARCHIVED_AT_KEY, list_archives
from mirror.db import MirrorDb
from mirror.paths import ARCHIVE_DIRS_GLOB, MIRROR_FILES_GLOB, MIRRORS_DIR, guess_stream
from mirror.runtime_status import MirrorInfo
from mirror.schema import INCARNATION_KEY

log = logging.getLogger(__name__)

SERVER_URL_KEY = "server-url"
NAMESPACE_KEY = "namespace"
PATH_KEY = "path"
INSTALL_ID_FILE = "install-id"
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
COPY_STEP_PAGES = 2048  # 8 MiB of 4 KiB pages: progress a few times a second, little overhead
_UPSERT = (
    "INSERT INTO mirror_meta (key, value) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


def record_identity(db: MirrorDb, server_url: str, namespace: str, path: str) -> None:
    with db.transaction() as conn:
        for key, value in (
            (SERVER_URL_KEY, server_url),
            (NAMESPACE_KEY, namespace),
            (PATH_KEY, path),
        ):
            conn.execute(_UPSERT, (key, value))


def read_info(file: Path) -> MirrorInfo | None:
    try:
        conn = apsw.Connection(str(file), flags=apsw.SQLITE_OPEN_READONLY)
    except apsw.Error:
        return None
    try:
        conn.set_busy_timeout(1000)
        meta: dict[str, str] = {
            str(key): str(value)
            for key, value in conn.execute("SELECT key, value FROM mirror_meta").fetchall()
        }
        count = conn.execute("SELECT max(local_index) + 1 FROM events").fetchall()[0][0] or 0
    except apsw.Error as error:
        log.debug("skipping %s: not a readable mirror (%s)", file, error)
        return None
    finally:
        conn.close()
    # A file written before identities were recorded: best guess from its name.
    namespace, path = guess_stream(file)
    return MirrorInfo(
        server_url=meta.get(SERVER_URL_KEY),
        namespace=meta.get(NAMESPACE_KEY) or namespace,
        path=meta.get(PATH_KEY) or path,
        file=file,
        event_count=int(count),
        incarnation=meta.get(INCARNATION_KEY),
        archived_at=meta.get(ARCHIVED_AT_KEY),
    )


def list_mirrors(data_dir: Path) -> list[MirrorInfo]:
    root = data_dir / MIRRORS_DIR
    if not root.is_dir():
        return []
    found = []
    live = sorted(root.glob(MIRROR_FILES_GLOB))
    for file in live:
        info = read_info(file)
        if info is not None:
            archives = tuple(_read_archives(file))
            found.append(dataclasses.replace(info, archives=archives))
    for folder in sorted(root.glob(ARCHIVE_DIRS_GLOB)):
        orphan_of = folder.with_name(folder.name.removesuffix(".archives") + ".sqlite3")
        if orphan_of not in live:
            found.extend(_read_archives(orphan_of))
    return found


def _read_archives(mirror: Path) -> list[MirrorInfo]:
    infos = (read_info(file) for file in list_archives(mirror))
    return [info for info in infos if info is not None]


def install_id(data_dir: Path) -> str:
    file = data_dir / INSTALL_ID_FILE
    with contextlib.suppress(OSError):
        existing = file.read_text(encoding="utf-8").strip()
        if existing:
            return existing
    data_dir.mkdir(parents=True, exist_ok=True)
    candidate = str(uuid.uuid4())
    tmp = file.with_name(f"{INSTALL_ID_FILE}.{os.getpid()}.tmp")
    tmp.write_text(candidate, encoding="utf-8")
    try:
        # link() fails if another process created the file first; then theirs wins.
        os.link(tmp, file)
    except FileExistsError:
        pass
    except OSError:
        # No hard links on this filesystem: last writer wins, harmless this early.
        if not file.exists():
            os.replace(tmp, file)
    finally:
        tmp.unlink(missing_ok=True)
    return file.read_text(encoding="utf-8").strip()


def save_copy(
    source: Path, target: Path, on_progress: Callable[[int, int], None] | None = None
) -> None:
    """Copy the mirror ``source`` to ``target`` consistently, as a standalone SQLite file.

    Refuses (``ValueError``) a target that is the mirror itself or one of its SQLite side files;
    on failure (or an exception from ``on_progress``) the partial copy is removed and
    ``target`` is left as it was.
    """
    if not source.exists():
        raise FileNotFoundError(f"there is no local mirror at {source}")
    if is_part_of_mirror(target, source):
        raise ValueError(f"cannot save a copy over the live mirror {source}; choose another file")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial_file = target.with_name(f".{target.name}.partial")
    partial_file.unlink(missing_ok=True)
    done = False
    try:
        src = apsw.Connection(str(source), flags=apsw.SQLITE_OPEN_READWRITE)
        try:
            src.set_busy_timeout(5000)
            dst = apsw.Connection(str(partial_file))
            try:
                # A read transaction held across the steps pins one WAL snapshot: the writer's
                # commits meanwhile neither restart the copy nor end up half in it.
                src.execute("BEGIN")
                src.execute("SELECT count(*) FROM sqlite_schema").fetchall()
                page_size = int(str(src.execute("PRAGMA page_size").fetchall()[0][0]))
                with dst.backup("main", src, "main") as backup:
                    while not backup.done:
                        backup.step(COPY_STEP_PAGES)
                        if on_progress is not None:
                            total = backup.page_count
                            on_progress((total - backup.remaining) * page_size, total * page_size)
                src.execute("COMMIT")
                dst.execute("PRAGMA journal_mode = DELETE")
            finally:
                dst.close()
        finally:
            src.close()
        os.replace(partial_file, target)
        done = True
    finally:
        if not done:
            for leftover in _with_side_files(partial_file):
                leftover.unlink(missing_ok=True)


def _with_side_files(file: Path) -> list[Path]:
    return [file, *(file.with_name(file.name + suffix) for suffix in _SQLITE_SIDE_FILES)]


def is_part_of_mirror(target: Path, mirror: Path) -> bool:
    """Whether writing ``target`` would touch the mirror file or its SQLite side files."""
    resolved = target.expanduser().resolve()
    for file in _with_side_files(mirror.resolve()):
        if resolved == file:
            return True
        with contextlib.suppress(OSError):
            if resolved.exists() and file.exists() and os.path.samefile(resolved, file):
                return True
    return False
