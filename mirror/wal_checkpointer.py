"""``WalCheckpointer``: WAL checkpoints of a mirror file in a thread of their own.

Public API:

- ``WalCheckpointer.attach(writer_conn, path) -> WalCheckpointer``: checkpoint from a second
  connection in a daemon thread whenever a commit leaves ``WAL_PAGES`` or more pages in the WAL
  (the writer's WAL hook asks for it; the hook also replaces SQLite's automatic checkpoint).
  ``after_commit(writer_conn)``: the backstop, called by the writer after each COMMIT: once the
  WAL holds ``BACKSTOP_PAGES`` pages, checkpoint on the writer connection itself. ``close()``
  stops the thread and closes its connection (call it before closing the writer's).
  ``checkpoints`` / ``backstops`` count the checkpoints run by each (for tests).

Why: SQLite runs an automatic checkpoint inside the COMMIT that crosses the threshold, so the
writer thread paid for copying every page back into the database file (a read and a write
system call per page, plus two syncs). In a thread of its own the copy overlaps the next
transaction. It is the same PASSIVE checkpoint SQLite would have run: it never blocks the writer
or readers, copies what no reader still needs, and crash safety is SQLite's as before.

The backstop: a checkpoint racing a writer that never pauses can never finish, and SQLite
restarts the WAL only after one has, so during a long catch-up the WAL would grow by the size of
everything written (300 MB for a million events). At ``BACKSTOP_PAGES`` the writer checkpoints
after its commit, as SQLite's own automatic checkpoint would; no page is added meanwhile, most
are copied by then, so that is cheap and complete, and the WAL starts over.

Measured with bench/catchup.py on 2 cores: 300,000 events in alternating runs, 36-37% of the
bare insert rate with checkpoints inside the commits and 44-45% with them here; 1,000,000 events
with the backstop, 44% and a WAL of at most 68 MB.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import apsw

log = logging.getLogger(__name__)

WAL_PAGES = 1000  # SQLite's own automatic checkpoint threshold
BACKSTOP_PAGES = 16_384  # 64 MB of 4 KB pages, journal_size_limit


class WalCheckpointer:
    def __init__(self, path: Path) -> None:
        self._conn = apsw.Connection(str(path))
        # A connection learns the file is in WAL mode on its first read; until then a
        # checkpoint does nothing (it reports -1 frames).
        self._conn.execute("SELECT count(*) FROM sqlite_schema").fetchall()
        self._wanted = threading.Event()
        self._stopping = False
        self._backstop_due = False
        self.checkpoints = 0
        self.backstops = 0
        self._thread = threading.Thread(
            target=self._run, name=f"wal checkpoints {path.name}", daemon=True
        )

    @classmethod
    def attach(cls, writer_conn: apsw.Connection, path: Path) -> WalCheckpointer:
        checkpointer = cls(path)
        writer_conn.set_wal_hook(checkpointer._on_commit)
        checkpointer._thread.start()
        return checkpointer

    def _on_commit(self, _conn: apsw.Connection, _name: str, pages: int) -> int:
        if pages >= BACKSTOP_PAGES:
            self._backstop_due = True
        elif pages >= WAL_PAGES:
            self._wanted.set()
        return apsw.SQLITE_OK

    def after_commit(self, writer_conn: apsw.Connection) -> None:
        if not self._backstop_due:
            return
        self._backstop_due = False
        try:
            writer_conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)
            self.backstops += 1
        except apsw.Error:
            log.warning("WAL checkpoint after a commit failed", exc_info=True)

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stopping:
                return
            try:
                _, copied = self._conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)
                if copied >= 0:
                    self.checkpoints += 1
            except apsw.Error:
                # The next commit past the threshold asks again; the WAL only grows meanwhile.
                log.warning("background WAL checkpoint failed", exc_info=True)

    def close(self) -> None:
        self._stopping = True
        self._wanted.set()
        self._thread.join()
        self._conn.close()
