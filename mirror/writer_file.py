"""``WriterFile``: the leader's mirror file: opened once, set aside on a new incarnation or damage.

Public API:

- ``WriterFile(mirror_file, *, identity, subscription_key, keep_archives, live, publisher,
  shielded, spawn, on_damage)``; ``identity`` is ``(server_url, namespace, path)``, recorded in
  the file when it is opened.
  - ``writer``: the open ``MirrorWriter`` (None before ``open()`` and after ``close()``).
  - ``await open() -> MirrorWriter``: open the file once, however many dials ask and even if
    they are cancelled (``MirrorDb.open`` moves an unreadable file aside and rebuilds a
    mismatched schema; either one clears the views). A fresh open starts a background
    ``PRAGMA quick_check`` on a connection of its own; damage it finds goes to ``on_damage``.
  - ``await rebuild(reason) -> MirrorWriter``: the stream is another incarnation: an empty
    mirror is just discarded, else it is archived (``mirror.archive``, the newest
    ``keep_archives`` kept) and a fresh file opened.
  - ``note_damage(message) -> DamageVerdict``: the pure part of healing: ``HEAL`` (the next dial
    quarantines the file), ``ALREADY`` (a heal is on its way) or ``STOP`` (damage came back
    ``MAX_DAMAGE_HEALS`` times with no successful write in between). ``healed()`` after a
    write that applied events resets the count.
  - ``await quarantine_if_damaged(writer) -> MirrorWriter``: move a damaged file aside
    (``.corrupt-<UTC>``) and open a fresh one; ``writer`` unchanged if no damage is pending.
  - ``await close()``.

No write runs while a file is set aside: the processors' locks are held across the move.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from mirror.archive import archive_mirror, prune_archives
from mirror.db import MirrorDb, quarantine_file
from mirror.integrity import quick_check
from mirror.live_binding import LiveBinding
from mirror.mirror_files import record_identity
from mirror.processors import MirrorWriter
from mirror.shielded import Shielded
from mirror.status_publisher import StatusPublisher

log = logging.getLogger(__name__)

# Damage found again this many times with no successful write in between: stop dialling.
MAX_DAMAGE_HEALS = 3


class DamageVerdict(enum.Enum):
    HEAL = "heal"
    ALREADY = "already"
    STOP = "stop"


def describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    text = str(error)
    return text if text else type(error).__name__


class WriterFile:
    def __init__(
        self,
        mirror_file: Path,
        *,
        identity: tuple[str, str, str],
        subscription_key: str,
        keep_archives: int,
        live: LiveBinding,
        publisher: StatusPublisher,
        shielded: Shielded,
        spawn: Callable[[Awaitable[None], str], asyncio.Task[None]],
        on_damage: Callable[[str], None],
    ) -> None:
        self.path = mirror_file
        self.writer: MirrorWriter | None = None
        # Damage seen in the file: the next dial moves it aside first.
        self.damage: str | None = None
        self._heals = 0
        self._identity = identity
        self._subscription_key = subscription_key
        self._keep_archives = keep_archives
        self._live = live
        self._publisher = publisher
        self._shielded = shielded
        self._spawn = spawn
        self._on_damage = on_damage
        self._db: MirrorDb | None = None
        self._remove_commit_listener: Callable[[], None] | None = None
        self._check: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"WriterFile({str(self.path)!r})"

    async def open(self) -> MirrorWriter:
        if self.writer is not None:
            return self.writer
        return await self._shielded.once("open", self._open_now)

    async def _open_now(self) -> MirrorWriter:
        server_url, namespace, path = self._identity

        def open_db() -> MirrorDb:
            db = MirrorDb.open(self.path)
            try:
                record_identity(db, server_url, namespace, path)
            except BaseException:
                db.close()
                raise
            return db

        db = await asyncio.to_thread(open_db)
        self._db = db
        writer = self.writer = MirrorWriter(db, self._subscription_key)
        self._remove_commit_listener = db.add_commit_listener(self._live.notify_changed)
        if db.quarantined_to is not None:
            self._live.reopen()
            self._publisher.cleared(
                f"the local mirror was unreadable; moved it to {db.quarantined_to.name} "
                "and mirroring again"
            )
        elif db.schema_reset:
            self._live.reopen()
            self._publisher.cleared("the local mirror had another schema version; mirroring again")
        else:
            self._live.ensure_open()
            self._live.refresh()
        if self._check is not None:
            self._check.cancel()
        self._check = self._spawn(self._check_integrity(db), "integrity check")
        return writer

    async def _check_integrity(self, db: MirrorDb) -> None:
        """Off the loop and on a connection of its own, so the writer goes on meanwhile."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            problem = await asyncio.to_thread(quick_check, db.path)
        except Exception as error:
            log.warning("%s: could not check the mirror file: %s", self, describe(error))
            return
        log.info("%s: quick_check took %.2f s", self, loop.time() - started)
        if problem is not None and self._db is db:
            self._on_damage(problem)

    def note_damage(self, message: str) -> DamageVerdict:
        if self.damage is not None:
            return DamageVerdict.ALREADY
        self._heals += 1
        if self._heals > MAX_DAMAGE_HEALS:
            return DamageVerdict.STOP
        self.damage = message
        return DamageVerdict.HEAL

    def healed(self) -> None:
        self._heals = 0

    async def _set_aside(self, move: Callable[[MirrorDb], Path]) -> tuple[MirrorWriter, Path]:
        """Close the mirror, ``move`` its file away and open a fresh one at the same path."""
        writer = await self.open()
        async with writer.raw.lock, writer.feed.lock:
            if self._remove_commit_listener is not None:
                self._remove_commit_listener()
                self._remove_commit_listener = None
            self._db = self.writer = None
            moved = await self._shielded.run(asyncio.to_thread(move, writer.db))
        return await self.open(), moved

    async def rebuild(self, reason: str) -> MirrorWriter:
        """Keep the old mirror as an archive (when it holds events) and start a fresh one."""
        writer = await self.open()
        if await asyncio.to_thread(writer.db.event_count) == 0:
            await self._shielded.run(writer.discard())
            self._publisher.cleared(f"local mirror rebuilt: {reason}")
            return writer
        writer, archive = await self._set_aside(archive_mirror)
        pruned = await asyncio.to_thread(prune_archives, self.path, self._keep_archives)
        if pruned:
            log.info(
                "%s: deleted %d archive(s) beyond the newest %d",
                self,
                len(pruned),
                self._keep_archives,
            )
        self._publisher.cleared(
            f"local mirror rebuilt: {reason}; the old one is kept as {archive.name}"
        )
        return writer

    async def quarantine_if_damaged(self, writer: MirrorWriter) -> MirrorWriter:
        message = self.damage
        if message is None:
            return writer

        def move(db: MirrorDb) -> Path:
            db.close()
            return quarantine_file(db.path)

        writer, moved = await self._set_aside(move)
        self.damage = None
        self._publisher.cleared(
            f"the local mirror was damaged ({message}); moved it to {moved.name} and mirroring "
            "again"
        )
        return writer

    def stop_checking(self) -> None:
        if self._check is not None and not self._check.done():
            self._check.cancel()

    async def close(self) -> None:
        self.stop_checking()
        if self._remove_commit_listener is not None:
            self._remove_commit_listener()
            self._remove_commit_listener = None
        db, self._db, self.writer = self._db, None, None
        if db is not None:
            await asyncio.to_thread(db.close)
