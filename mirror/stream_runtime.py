"""``StreamRuntime``: one stream's mirror in this process (connection, election, ingest, status).

Created by ``mirror.runtime.RuntimeRegistry`` (one per stream per process) and shared by every
view of the stream; ``retain()`` / ``release()`` count the views and the last release closes it.
The public members are the contract in docs/architecture.md; this docstring says how it works.

Roles. An online runtime first runs the writer election (``mirror.election``, a file lock beside
the mirror). The winner is the *leader*: it opens the mirror for writing (``mirror.db.MirrorDb``,
which moves an unreadable file aside and rebuilds a mismatched schema), subscribes and writes.
Everyone else is a *follower*: it reads the same file, sees the leader's commits through the
live-query layer (``PRAGMA data_version``), keeps trying for the lock every ~150 ms and takes
over when the leader closes or dies. A follower's ``connection`` is its own liveness probe of the
server: ``subscribed`` while the server answers (the leader holds the subscription),
``reconnecting`` while it does not, ``unauthorized`` while it refuses the token. An offline
runtime (no server) only reads.

The leader's connection. Every dial bumps ``_epoch``; every callback (deliveries, the socket's
close, subscribe results, probe answers, failed writes) carries the epoch it was made for and
is ignored once it is stale, so a late close can never tear down its replacement. A dial is:
open the mirror if needed, ``runtimeState`` (15 s), reconcile (``mirror.reconcile``; 15 s; the
incarnation is the server's ``createdAt``), catch up by paging ``getEvents`` when more than
``catchup_threshold`` events behind (``mirror.catchup``), subscribe from the checkpoint (15 s),
then a liveness probe every 10 s. ``schedule_reconnect(error, delay)`` is the ONE path that
drops a connection and arms the ONE dial timer: 1 s after a close or a failed connect/subscribe,
at once after a kill/reset this client sent or a reset seen (below), 250 ms after a failed
probe, and ``min(30 s, 250 ms x 2^(n-1))`` after the
n-th consecutive failed write (``mirror.backoff.IngestBackoff``, reset only by a write that
applied events). A pending ingest backoff is never cut short: the timer fires no earlier than
its deadline, whatever asked for the reconnect. A refused token (``AuthError``, HTTP 401) is
not retried: ``connection`` becomes ``unauthorized`` and nothing dials until ``reconnect()``
(after ``set_token``). One-shot calls (append, runtimeState, kill, reset) go over HTTP batch on
their own and never touch the timer.

Ingest. Deliveries are queued as they arrive and a single writer task applies everything
queued so far in ONE transaction (``MirrorWriter.ingest``: raw rows, feed rows and both
checkpoints), in a worker thread. Writes are shielded from cancellation, so the in-memory
checkpoints always match what was committed. Too big a backlog drops the socket and pages
history instead, so memory stays bounded.

One incarnation per mirror. Nothing is written that is not proven to be of the incarnation the
mirror records: each catch-up page comes with the stream's ``createdAt`` read in the same HTTP
batch, after the page; each delivery carries it in ``batch.state``; and the write transaction
checks it against ``mirror_meta`` before any row (``MirrorWriter``, ``IncarnationMismatch``).
A mismatch writes nothing and dials again at once; that dial's reconcile moves the old mirror
aside as an archive (``mirror.archive``, the newest ``keep_archives`` kept) and mirrors the new
incarnation into a fresh file.

Damage. A freshly opened mirror gets a ``PRAGMA quick_check`` in a thread (its own read
connection, so the writer goes on); damage found by it, by a write or by any read
(``mirror.integrity.is_damage``) makes the leader move the file aside (``.corrupt-<UTC>``) in
its next dial and rebuild from the server. Damage that comes back ``MAX_DAMAGE_HEALS`` times with
no successful write in between stops the dialling (``connection`` ``failed``). Followers and
offline runtimes say in ``notice`` that the file is damaged.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx

from mirror.archive import DEFAULT_KEEP_ARCHIVES, archive_mirror, prune_archives
from mirror.backoff import IngestBackoff, ReconnectCause, reconnect_delay
from mirror.catchup import CatchupWriteError, catch_up
from mirror.db import MirrorDb, quarantine_file
from mirror.election import WriterElection
from mirror.integrity import is_damage, quick_check
from mirror.live_binding import LiveBinding
from mirror.mirror_files import record_identity, save_copy
from mirror.paths import writer_lock_file
from mirror.processors import IncarnationMismatch, MirrorWriter
from mirror.reconcile import ReconcileAction
from mirror.runtime_reader import RuntimeReader
from mirror.runtime_status import (
    NO_LOCAL_MIRROR_NOTICE,
    CatchupProgress,
    ReconnectRecord,
    RuntimeStatus,
    RuntimeTiming,
    follower_notice,
)
from wire.stream_client import AuthError, StreamClient, Subscription

log = logging.getLogger(__name__)

T = TypeVar("T")
Event = dict[str, Any]
StatusListener = Callable[[RuntimeStatus], None]

SUBSCRIBER = {"description": "streamdesk"}
HTTP_TIMEOUT_S = 30.0
_COUNTS_SQL = (
    "SELECT (SELECT max(local_index) + 1 FROM events), "
    "(SELECT value FROM mirror_meta WHERE key = 'incarnation')"
)
# Damage found again this many times with no successful write in between: stop dialling.
MAX_DAMAGE_HEALS = 3
FOLLOWER_CANNOT_CLEAR = (
    "another Streamdesk process is writing this mirror; clear it there (or close it first)"
)


class OfflineError(RuntimeError):
    """A server call on a runtime that has no server."""


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    text = str(error)
    return text if text else type(error).__name__


def _consume(future: asyncio.Future[Any]) -> None:
    """Retrieve a shielded future's error so an abandoned one is never reported unhandled."""
    if not future.cancelled():
        future.exception()


class StreamRuntime:
    """One stream's runtime (see the module docstring)."""

    def __init__(
        self,
        *,
        server_url: str | None,
        namespace: str,
        path: str,
        mirror_file: Path,
        token: str | None,
        subscription_key: str,
        timing: RuntimeTiming,
        loop: asyncio.AbstractEventLoop,
        on_closed: Callable[[StreamRuntime], None],
        keep_archives: int = DEFAULT_KEEP_ARCHIVES,
    ) -> None:
        self.server_url = server_url
        self.namespace = namespace
        self.path = path
        self.mirror_file = mirror_file
        self.subscription_key = subscription_key
        self.reader = RuntimeReader(mirror_file, on_damage=self._damage_reported_threadsafe)
        # Every reconnect asked for (reason, delay asked, wait armed): for diagnostics and tests.
        self.reconnect_history: deque[ReconnectRecord] = deque(maxlen=256)
        self._token = token
        self._timing = timing
        self._loop = loop
        self._on_closed = on_closed
        self._keep_archives = keep_archives
        self._status = RuntimeStatus(
            connection="offline" if server_url is None else "connecting", role="idle"
        )
        self._listeners: list[StatusListener] = []
        self._notify_handle: asyncio.Handle | None = None
        self._last_notify = -math.inf
        self._refs = 0
        self._started = False
        self._closed = False
        self._closing: asyncio.Task[None] | None = None
        self._release_handle: asyncio.Handle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inflight: set[asyncio.Future[Any]] = set()
        self._live = LiveBinding(
            mirror_file,
            loop=loop,
            poll_interval=timing.live_poll,
            coalesce_interval=timing.coalesce,
            on_damage=self._damage_reported,
        )
        self._unwatch_counts: Callable[[], None] | None = None
        self._seen_incarnation: str | None = None
        self._watch_task: asyncio.Task[None] | None = None
        # Online parts.
        self._http: httpx.AsyncClient | None = None
        self._client: StreamClient | None = None
        self._election: WriterElection | None = None
        self._role_task: asyncio.Task[None] | None = None
        self._db: MirrorDb | None = None
        self._writer: MirrorWriter | None = None
        self._opening: asyncio.Future[MirrorWriter] | None = None
        self._remove_commit_listener: Callable[[], None] | None = None
        self._epoch = 0
        self._control_epoch: int | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._dial_task: asyncio.Task[None] | None = None
        self._probe_task: asyncio.Task[None] | None = None
        self._write_task: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None
        # (epoch, incarnation, events): what was delivered, waiting for the writer.
        self._pending: deque[tuple[int, str, Sequence[Event]]] = deque()
        self._pending_events = 0
        self._wake = asyncio.Event()
        self._backoff = IngestBackoff()
        self._backoff_until = 0.0
        self._incarnation: str | None = None
        self._last_delivered = 0
        self._deliveries = 0
        # Damage seen in the mirror file: the next dial moves the file aside first.
        self._damage: str | None = None
        self._damage_heals = 0
        self._integrity_task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        where = self.server_url or "offline"
        return f"StreamRuntime({where!r}, {self.namespace!r}, {self.path!r})"

    # -- status -----------------------------------------------------------------------------------

    @property
    def status(self) -> RuntimeStatus:
        return self._status

    @property
    def is_closed(self) -> bool:
        return self._closed or self._closing is not None

    def add_listener(self, cb: StatusListener) -> Callable[[], None]:
        self._listeners.append(cb)

        def remove() -> None:
            if cb in self._listeners:
                self._listeners.remove(cb)

        return remove

    async def wait_until(self, predicate: Callable[[RuntimeStatus], bool]) -> RuntimeStatus:
        """The status once ``predicate(status)`` holds (no deadline: wrap it in one)."""
        changed = asyncio.Event()
        remove = self.add_listener(lambda _: changed.set())
        try:
            while not predicate(self._status):
                changed.clear()
                await changed.wait()
            return self._status
        finally:
            remove()

    def _set(self, **changes: Any) -> None:
        status = dataclasses.replace(self._status, **changes)
        if status == self._status:
            return
        self._status = status
        if self._notify_handle is None and not self._closed:
            # At most one notification per ``coalesce`` seconds, the first one at once.
            delay = self._last_notify + self._timing.coalesce - self._loop.time()
            if delay <= 0:
                self._notify_handle = self._loop.call_soon(self._emit)
            else:
                self._notify_handle = self._loop.call_later(delay, self._emit)

    def _emit(self) -> None:
        self._notify_handle = None
        self._last_notify = self._loop.time()
        status = self._status
        for cb in list(self._listeners):
            try:
                cb(status)
            except Exception:
                log.exception("runtime status listener failed")

    def _cleared(self, notice: str | None = None) -> None:
        """The local mirror was discarded: views reload on the new clear_version."""
        self._set(
            clear_version=self._status.clear_version + 1,
            event_count=0,
            max_offset=0,
            notice=notice,
        )

    def _on_counts(self, rows: list[tuple[Any, ...]]) -> None:
        count = int(rows[0][0] or 0) if rows else 0
        incarnation = None if not rows or rows[0][1] is None else str(rows[0][1])
        changes: dict[str, Any] = {
            "event_count": count,
            "max_offset": count,
            "incarnation": incarnation,
        }
        if self._status.role != "leader":
            # Another process discarded or rebuilt the mirror: the views must reload.
            replaced = (
                self._seen_incarnation is not None
                and incarnation is not None
                and incarnation != self._seen_incarnation
            )
            if count < self._status.event_count or replaced:
                changes["clear_version"] = self._status.clear_version + 1
        if self._status.role == "follower":
            changes["notice"] = follower_notice(count)
        if incarnation is not None:
            self._seen_incarnation = incarnation
        self._set(**changes)

    # -- lifetime ---------------------------------------------------------------------------------

    def retain(self) -> None:
        if self.is_closed:
            raise RuntimeError(f"{self!r} is closed; acquire the stream again")
        self._refs += 1
        if self._release_handle is not None:
            self._release_handle.cancel()
            self._release_handle = None
        if not self._started:
            self._start()

    def release(self) -> None:
        if self._refs <= 0:
            return
        self._refs -= 1
        if self._refs == 0 and self._release_handle is None:
            # Deferred one loop turn: a view that is replaced by another in the same turn
            # (release then retain) keeps the runtime.
            self._release_handle = self._loop.call_soon(self._release_now)

    def _release_now(self) -> None:
        self._release_handle = None
        if self._refs == 0 and not self.is_closed:
            self._closing = self._loop.create_task(self._close(), name=f"close {self!r}")

    async def aclose(self) -> None:
        """Close now, whatever the count (the registry's shutdown)."""
        if self._closing is None:
            self._closing = self._loop.create_task(self._close(), name=f"close {self!r}")
        await asyncio.shield(self._closing)

    def _spawn(self, work: Awaitable[T], name: str) -> asyncio.Task[T]:
        task = asyncio.ensure_future(work, loop=self._loop)
        task.set_name(f"{name} {self!r}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    @staticmethod
    def _cancel(task: asyncio.Task[Any] | None) -> None:
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()

    def _start(self) -> None:
        self._started = True
        self._unwatch_counts = self._live.watch(_COUNTS_SQL, (), self._on_counts)
        if self.server_url is None:
            exists = self.mirror_file.exists()
            self._set(
                connection="offline",
                role="idle",
                notice=None if exists else NO_LOCAL_MIRROR_NOTICE,
            )
            self._watch_task = self._spawn(self._watch_file(), "watch mirror file")
            return
        self._election = WriterElection(
            writer_lock_file(self.mirror_file), poll_interval=self._timing.election_poll
        )
        self._set(connection="connecting", role="electing")
        self._role_task = self._spawn(self._elect(), "writer election")

    async def _close(self) -> None:
        self._set(connection="closed", role="idle", catchup=None)
        self._epoch += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in (
            self._role_task,
            self._watch_task,
            self._probe_task,
            self._dial_task,
            self._write_task,
            self._integrity_task,
        ):
            self._cancel(task)
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            await self._close_subscription(subscription)
        # Writes already started finish (they are shielded); nothing new starts.
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        # What is left are unsubscribes of earlier connections (each with its own deadline).
        others = [task for task in self._tasks if task is not asyncio.current_task()]
        if others:
            await asyncio.gather(*others, return_exceptions=True)
        if self._unwatch_counts is not None:
            self._unwatch_counts()
        self._live.close()
        if self._remove_commit_listener is not None:
            self._remove_commit_listener()
        db, self._db, self._writer = self._db, None, None
        if db is not None:
            await asyncio.to_thread(db.close)
        # After the writer connection is closed, so the next leader never meets it.
        if self._election is not None:
            self._election.release()
        await asyncio.to_thread(self.reader.close)
        if self._http is not None:
            await self._http.aclose()
        self._closed = True
        if self._notify_handle is not None:
            self._notify_handle.cancel()
            self._notify_handle = None
        self._emit()
        self._on_closed(self)

    # -- election ---------------------------------------------------------------------------------

    async def _elect(self) -> None:
        election = self._election
        assert election is not None
        if not election.try_acquire():
            self._become_follower()
            if not await election.wait_until_leader():
                return
            self._cancel(self._probe_task)
            self._cancel(self._watch_task)
        log.info("%s: this process writes the mirror %s", self, self.mirror_file)
        self._set(role="leader", notice=None, connection="connecting", last_error=None)
        self._write_task = self._spawn(self._write_loop(), "mirror writer")
        self._dial_now()

    def _become_follower(self) -> None:
        log.info("%s: another process writes %s; following it", self, self.mirror_file)
        self._set(role="follower", notice=follower_notice(self._status.event_count))
        self._watch_task = self._spawn(self._watch_file(), "watch mirror file")
        self._probe_task = self._spawn(self._follower_probe(), "follower probe")

    async def _watch_file(self) -> None:
        """Followers and offline runtimes: open the file once it exists, follow replacements."""
        while True:
            opened_before = self._live.is_open
            if self._live.ensure_open():
                if self._live.refresh():
                    self._cleared(self._status.notice)
                if not opened_before and self._status.notice == NO_LOCAL_MIRROR_NOTICE:
                    self._set(notice=None)
            await asyncio.sleep(self._timing.election_poll)

    async def _follower_probe(self) -> None:
        while True:
            client = self._online_client()  # anew each time: the token may have changed
            try:
                async with asyncio.timeout(self._timing.probe_deadline):
                    await client.runtime_state()
            except AuthError as error:
                self._set(connection="unauthorized", last_error=_describe(error))
            except Exception as error:
                self._set(connection="reconnecting", last_error=f"server: {_describe(error)}")
            else:
                self._set(connection="subscribed", last_error=None)
            await asyncio.sleep(self._timing.probe_interval)

    # -- the leader's connection ------------------------------------------------------------------

    def _current(self, epoch: int) -> bool:
        return epoch == self._epoch and not self.is_closed

    def schedule_reconnect(self, error: str, delay: float) -> None:
        """Drop the connection and dial again after ``delay`` s (never before a pending
        ingest backoff ends). The one path that redials."""
        self._reconnect(error, delay, is_error=True)

    def reconnect(self) -> None:
        """Drop the current connection and dial again now (a no-op unless this process
        writes the mirror)."""
        self._damage_heals = 0
        self._reconnect("reconnect requested", 0.0, is_error=False)

    def _reconnect(self, reason: str, delay: float, *, is_error: bool) -> None:
        if self.is_closed or self.server_url is None or self._status.role != "leader":
            return
        self._drop_connection()
        now = self._loop.time()
        when = max(now + delay, self._backoff_until)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(when, self._dial_now)
        self.reconnect_history.append(ReconnectRecord(reason, delay, when - now))
        log.info("%s: %s; dialling again in %.2f s", self, reason, when - now)
        changes: dict[str, Any] = {"connection": "reconnecting", "catchup": None}
        if is_error:
            changes["last_error"] = reason
        self._set(**changes)

    def _unauthorized(self, error: AuthError) -> None:
        """The server refused our token: stop dialling until ``reconnect()`` (retrying a
        refused token cannot succeed; the user fixes it first)."""
        log.warning("%s: the server refused the token; not dialling again until asked", self)
        self._stop_dialling(_describe(error), connection="unauthorized")

    def _stop_dialling(self, reason: str, connection: str = "failed") -> None:
        """A fault retrying cannot heal: nothing dials again until ``reconnect()``."""
        self._drop_connection()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if connection == "failed":
            log.error("%s: %s; not dialling again until asked", self, reason)
        self._set(connection=connection, catchup=None, last_error=reason)

    def _drop_connection(self) -> None:
        self._epoch += 1
        self._cancel(self._probe_task)
        self._cancel(self._dial_task)
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            self._spawn(self._close_subscription(subscription), "unsubscribe")
        self._pending.clear()
        self._pending_events = 0

    async def _close_subscription(self, subscription: Subscription) -> None:
        try:
            async with asyncio.timeout(self._timing.unsubscribe_deadline):
                await subscription.unsubscribe()
        except Exception as error:
            log.debug("closing a subscription failed: %s", _describe(error))
            with contextlib.suppress(Exception):
                await subscription.aclose()

    def _dial_now(self) -> None:
        self._timer = None
        if self.is_closed or self._status.role != "leader":
            return
        self._epoch += 1
        self._set(connection="connecting", catchup=None)
        self._dial_task = self._spawn(self._connect(self._epoch), "dial")

    async def _guarded(self, work: Awaitable[T]) -> T:
        """Run a mirror write to completion even if the caller is cancelled."""
        future = asyncio.ensure_future(work)
        self._inflight.add(future)
        future.add_done_callback(self._inflight.discard)
        future.add_done_callback(_consume)
        return await asyncio.shield(future)

    async def _open_mirror(self) -> MirrorWriter:
        """The writer, opening the mirror once (a cancelled dial never leaks or doubles it)."""
        if self._writer is not None:
            return self._writer
        if self._opening is None or self._opening.done():
            opening = asyncio.ensure_future(self._open_mirror_now())
            self._opening = opening
            self._inflight.add(opening)
            opening.add_done_callback(self._inflight.discard)
            opening.add_done_callback(_consume)
        return await asyncio.shield(self._opening)

    async def _open_mirror_now(self) -> MirrorWriter:
        server_url = self.server_url
        assert server_url is not None

        def open_db() -> MirrorDb:
            db = MirrorDb.open(self.mirror_file)
            try:
                record_identity(db, server_url, self.namespace, self.path)
            except BaseException:
                db.close()
                raise
            return db

        db = await asyncio.to_thread(open_db)
        self._db = db
        self._writer = MirrorWriter(db, self.subscription_key)
        self._remove_commit_listener = db.add_commit_listener(self._live.notify_changed)
        if db.quarantined_to is not None:
            self._live.reopen()
            self._cleared(
                f"the local mirror was unreadable; moved it to {db.quarantined_to.name} "
                "and mirroring again"
            )
        elif db.schema_reset:
            self._live.reopen()
            self._cleared("the local mirror had another schema version; mirroring again")
        else:
            self._live.ensure_open()
            self._live.refresh()
        self._cancel(self._integrity_task)
        self._integrity_task = self._spawn(self._check_integrity(db), "integrity check")
        return self._writer

    async def _check_integrity(self, db: MirrorDb) -> None:
        """``PRAGMA quick_check`` of a freshly opened mirror, off the loop and on a connection
        of its own (the writer goes on meanwhile): damage anywhere in the file is found."""
        started = self._loop.time()
        try:
            problem = await asyncio.to_thread(quick_check, db.path)
        except Exception as error:
            log.warning("%s: could not check the mirror file: %s", self, _describe(error))
            return
        log.info("%s: quick_check took %.2f s", self, self._loop.time() - started)
        if problem is not None and self._db is db:
            self._damage_reported(problem)

    def _damage_reported_threadsafe(self, message: str) -> None:
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._damage_reported, message)

    def _damage_reported(self, message: str) -> None:
        """A read or a write found the mirror file damaged."""
        if self.is_closed:
            return
        if self._status.role == "leader":
            self._heal_damage(message)
        elif self._status.role == "follower":
            self._set(
                notice=f"the mirror file is damaged ({message}); the Streamdesk process that "
                "writes it moves it aside and rebuilds it"
            )
        else:
            self._set(
                notice=f"this mirror file is damaged ({message}); open the stream online to "
                "rebuild it from the server"
            )

    def _heal_damage(self, message: str) -> None:
        """Move the damaged file aside and mirror again (in the next dial); retrying the same
        file could never heal it. Damage that keeps coming back stops the dialling."""
        if self._damage is not None:
            return  # already on its way
        self._damage_heals += 1
        if self._damage_heals > MAX_DAMAGE_HEALS:
            self._stop_dialling(
                f"the local mirror keeps getting damaged ({message}); check the disk, then "
                "reconnect"
            )
            return
        self._damage = message
        log.warning("%s: the mirror file is damaged: %s", self, message)
        self.schedule_reconnect(f"the local mirror file is damaged ({message})", 0.0)

    async def _set_aside(self, move: Callable[[MirrorDb], Path]) -> tuple[MirrorWriter, Path]:
        """Close the mirror, ``move`` its file away (archive or quarantine) and open a fresh
        one at the same path; no write runs meanwhile (the processors' locks are held)."""
        writer = await self._open_mirror()
        async with writer.raw.lock, writer.feed.lock:
            if self._remove_commit_listener is not None:
                self._remove_commit_listener()
                self._remove_commit_listener = None
            db, self._db, self._writer = writer.db, None, None
            moved = await self._guarded(asyncio.to_thread(move, db))
        return await self._open_mirror(), moved

    async def _rebuild(self, reason: str) -> MirrorWriter:
        """The stream is not the one this mirror holds: keep the old mirror as an archive (when
        it holds events) and start a fresh one."""
        writer = await self._open_mirror()
        if await asyncio.to_thread(writer.db.event_count) == 0:
            await self._guarded(writer.discard())
            self._cleared(f"local mirror rebuilt: {reason}")
            return writer
        writer, archive = await self._set_aside(archive_mirror)
        pruned = await asyncio.to_thread(prune_archives, self.mirror_file, self._keep_archives)
        if pruned:
            log.info(
                "%s: deleted %d archive(s) beyond the newest %d",
                self,
                len(pruned),
                self._keep_archives,
            )
        self._cleared(f"local mirror rebuilt: {reason}; the old one is kept as {archive.name}")
        return writer

    async def _quarantine(self, message: str) -> MirrorWriter:
        def move(db: MirrorDb) -> Path:
            db.close()
            return quarantine_file(db.path)

        writer, moved = await self._set_aside(move)
        self._damage = None
        self._cleared(
            f"the local mirror was damaged ({message}); moved it to {moved.name} and mirroring "
            "again"
        )
        return writer

    async def _connect(self, epoch: int) -> None:
        timing = self._timing
        client = self._online_client()
        stage = "open mirror"
        try:
            writer = await self._open_mirror()
            if self._damage is not None:
                writer = await self._quarantine(self._damage)
            stage = "connect"
            async with asyncio.timeout(timing.step_deadline):
                state = await client.runtime_state()
            core = state["coreProcessorState"]
            created_at, server_max = str(core["createdAt"]), int(core["maxOffset"])
            if not self._current(epoch):
                return
            stage = "reconcile"
            async with asyncio.timeout(timing.step_deadline):
                decision = await self._guarded(writer.reconcile(created_at, server_max))
            if decision.action is ReconcileAction.DISCARD_AND_REBUILD:
                log.warning("%s: rebuilding the local mirror: %s", self, decision.reason)
                writer = await self._rebuild(decision.reason)
                async with asyncio.timeout(timing.step_deadline):
                    decision = await self._guarded(writer.reconcile(created_at, server_max))
                if not self._current(epoch):
                    return
            self._incarnation = created_at
            checkpoint = await self._guarded(writer.checkpoint())
            if not self._current(epoch):
                return
            if server_max - checkpoint > timing.catchup_threshold:
                stage = "catch-up"
                self._set(
                    connection="catching-up",
                    catchup=CatchupProgress(checkpoint, server_max, 0.0),
                )
                checkpoint = await catch_up(
                    partial(self._fetch_page, client, created_at),
                    partial(_plan_page, writer, created_at),
                    lambda plan: self._guarded(writer.write(plan)),
                    after=checkpoint,
                    total=server_max,
                    page_size=timing.catchup_page,
                    deadline=timing.step_deadline,
                    on_progress=partial(self._on_catchup_progress, epoch),
                    clock=self._loop.time,
                )
                if not self._current(epoch):
                    return
                self._damage_heals = 0
            stage = "subscribe"
            self._set(connection="subscribing", catchup=None)
            self._last_delivered = checkpoint
            async with asyncio.timeout(timing.step_deadline):
                subscription = await client.subscribe(
                    partial(self._on_batch, epoch),
                    replay_after_offset=checkpoint,
                    subscription_key=self.subscription_key,
                    subscriber=SUBSCRIBER,
                )
        except CatchupWriteError as error:
            if self._current(epoch):
                self._write_failed(error.__cause__ or error)
            return
        except IncarnationMismatch as error:
            if self._current(epoch):
                self._stream_was_reset(str(error))
            return
        except AuthError as error:
            if self._current(epoch):
                self._unauthorized(error)
            return
        except Exception as error:
            if self._current(epoch) and is_damage(error):
                self._heal_damage(_describe(error))
            elif self._current(epoch):
                cause = (
                    ReconnectCause.CONNECT_FAILED
                    if stage in ("open mirror", "connect")
                    else ReconnectCause.SUBSCRIBE_FAILED
                )
                self.schedule_reconnect(
                    f"{stage} failed: {_describe(error)}", reconnect_delay(cause)
                )
            return
        if not self._current(epoch):
            self._spawn(self._close_subscription(subscription), "unsubscribe")
            return
        self._subscription = subscription
        self._set(connection="subscribed", catchup=None, last_error=None)
        subscription.closed.add_done_callback(partial(self._on_subscription_closed, epoch))
        self._probe_task = self._spawn(self._leader_probe(epoch), "liveness probe")

    @staticmethod
    async def _fetch_page(
        client: StreamClient, incarnation: str, after: int, limit: int
    ) -> Sequence[Event]:
        """A page of history, proven to come from ``incarnation`` (the stream's state is read
        in the same HTTP batch, after the page)."""
        page, core = await client.get_events_with_state(after, limit)
        created_at = core.get("createdAt")
        if created_at != incarnation:
            raise IncarnationMismatch(
                f"the stream was reset during catch-up (incarnation {incarnation} -> {created_at})"
            )
        return page

    def _on_catchup_progress(self, epoch: int, progress: CatchupProgress) -> None:
        if self._current(epoch):
            self._set(catchup=progress)

    def _on_subscription_closed(self, epoch: int, closed: asyncio.Future[BaseException]) -> None:
        if not self._current(epoch):
            return  # a superseded connection: its close must not touch the current one
        reason = "closed" if closed.cancelled() else _describe(closed.result())
        self._reconnect(
            f"connection closed: {reason}",
            reconnect_delay(ReconnectCause.CLOSED),
            is_error=epoch != self._control_epoch,
        )

    async def _leader_probe(self, epoch: int) -> None:
        timing = self._timing
        client = self._online_client()
        probe_delay = reconnect_delay(ReconnectCause.PROBE_FAILED)
        misses = 0
        seen = self._deliveries
        while True:
            await asyncio.sleep(timing.probe_interval)
            if not self._current(epoch):
                return
            try:
                async with asyncio.timeout(timing.probe_deadline):
                    state = await client.runtime_state()
            except TimeoutError:
                misses += 1
                if misses >= timing.probe_misses:
                    self.schedule_reconnect(
                        f"liveness probe failed: no answer within {timing.probe_deadline:g} s, "
                        f"{misses} times in a row",
                        probe_delay,
                    )
                    return
                continue
            except Exception as error:
                if self._current(epoch):
                    self.schedule_reconnect(
                        f"liveness probe failed: {_describe(error)}", probe_delay
                    )
                return
            if not self._current(epoch):
                return
            misses = 0
            core = state.get("coreProcessorState") or {}
            if core.get("createdAt") != self._incarnation:
                self._stream_was_reset(
                    "liveness probe: the stream's incarnation changed (it was reset)"
                )
                return
            server_max = int(core.get("maxOffset") or 0)
            if server_max > self._last_delivered and self._deliveries == seen:
                self.schedule_reconnect(
                    f"liveness probe: the subscription stalled (server at offset {server_max}, "
                    f"nothing delivered after {self._last_delivered})",
                    probe_delay,
                )
                return
            seen = self._deliveries

    # -- ingest -----------------------------------------------------------------------------------

    def _on_batch(self, epoch: int, batch: dict[str, Any]) -> None:
        if not self._current(epoch):
            return
        self._deliveries += 1
        state = batch.get("state")
        created_at = state.get("createdAt") if isinstance(state, dict) else None
        if created_at != self._incarnation or self._incarnation is None:
            # Nothing of a batch that cannot be proven to be of this mirror's incarnation.
            self._stream_was_reset(
                f"a delivery came from incarnation {created_at}, the mirror holds "
                f"{self._incarnation}"
            )
            return
        events = batch.get("events") or []
        if events:
            self._last_delivered = max(self._last_delivered, int(events[-1]["offset"]))
            self._pending.append((epoch, str(created_at), events))
            self._pending_events += len(events)
            if self._pending_events > self._timing.live_backlog_limit:
                self._reconnect(
                    f"{self._pending_events} delivered events are waiting to be written; "
                    "paging history instead",
                    0.0,
                    is_error=False,
                )
                return
            self._wake.set()
        else:
            max_offset = batch.get("streamMaxOffset")
            if isinstance(max_offset, int):
                self._last_delivered = max(self._last_delivered, max_offset)

    async def _write_loop(self) -> None:
        limit = self._timing.max_transaction_events
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                epoch, incarnation = self._epoch, self._incarnation
                events: list[Event] = []
                while self._pending and len(events) < limit:
                    batch_epoch, batch_incarnation, batch_events = self._pending.popleft()
                    self._pending_events -= len(batch_events)
                    if batch_epoch == epoch and batch_incarnation == incarnation:
                        events.extend(batch_events)
                writer = self._writer
                if not events or writer is None or incarnation is None:
                    continue
                try:
                    applied = await self._guarded(writer.ingest(events, incarnation=incarnation))
                except Exception as error:
                    if self._current(epoch):
                        self._write_failed(error)
                    continue
                if applied:
                    self._backoff.record_success()
                    self._damage_heals = 0

    def _write_failed(self, error: BaseException) -> None:
        """A write into the mirror failed: heal what retrying cannot, back off otherwise."""
        if isinstance(error, IncarnationMismatch):
            self._stream_was_reset(str(error))
        elif is_damage(error):
            self._heal_damage(_describe(error))
        else:
            self._ingest_failed(error)

    def _stream_was_reset(self, reason: str) -> None:
        """The server's stream is another incarnation than the mirror's: dial again now; the
        dial's reconcile archives the old mirror and mirrors the new incarnation."""
        log.warning("%s: %s", self, reason)
        self._reconnect(reason, 0.0, is_error=False)

    def _ingest_failed(self, error: BaseException) -> None:
        delay = self._backoff.record_failure()
        self._backoff_until = self._loop.time() + delay
        log.warning(
            "%s: mirror ingest failed (%d in a row): %s",
            self,
            self._backoff.failures,
            _describe(error),
        )
        self.schedule_reconnect(f"mirror ingest failed: {_describe(error)}", delay)

    # -- one-shot calls -------------------------------------------------------------------------

    def _online_client(self) -> StreamClient:
        if self.server_url is None:
            raise OfflineError(f"{self.path} is open offline: there is no server to call")
        if self.is_closed:
            raise RuntimeError(f"{self!r} is closed")
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=HTTP_TIMEOUT_S)
        if self._client is None:
            self._client = StreamClient(
                self.server_url, self.path, self.namespace, self._token, http_client=self._http
            )
        return self._client

    def set_token(self, token: str | None) -> None:
        """Use ``token`` from the next call or dial on (a dial in progress keeps the old one);
        after an ``unauthorized`` status, ``reconnect()`` dials with it."""
        if token != self._token:
            self._token = token
            self._client = None

    async def append(self, event: dict[str, Any]) -> dict[str, Any]:
        result = await self._online_client().append(event)
        return dict(result)

    async def runtime_state(self) -> dict[str, Any]:
        result = await self._online_client().runtime_state()
        return dict(result)

    async def kill(self) -> None:
        await self._control("kill")

    async def reset(self) -> None:
        await self._control("reset")

    async def _control(self, method: str) -> None:
        client = self._online_client()
        # The subscription stays up (a kill drops it without presence facts, as in the
        # reference), so the server closing it meanwhile is expected, not an error.
        self._control_epoch = self._epoch
        try:
            await (client.kill() if method == "kill" else client.reset())
        finally:
            self._control_epoch = None
        self._reconnect(
            f"{method} requested", reconnect_delay(ReconnectCause.CONTROL_CALL), is_error=False
        )

    async def child_paths(self, path: str) -> list[str]:
        client = self._online_client()
        other = StreamClient(
            client.base_url, path, self.namespace, self._token, http_client=self._http
        )
        state = await other.runtime_state()
        core = state.get("coreProcessorState") or {}
        return [str(child) for child in core.get("childPaths") or []]

    # -- local mirror -----------------------------------------------------------------------------

    def live_query(
        self,
        sql: str,
        params: tuple[Any, ...],
        cb: Callable[[list[tuple[Any, ...]]], None],
    ) -> Callable[[], None]:
        """``cb(rows)`` on the loop now and whenever the result changes; returns remove."""
        unwatch = self._live.watch(sql, tuple(params), cb)
        if self._started:
            self._live.ensure_open()
        return unwatch

    async def clear_local(self) -> None:
        """Discard the local mirror and mirror the stream again from its start."""
        if self._status.role == "leader":
            # The dial may not have opened the writer yet; this process holds the lock.
            writer = await self._open_mirror()
            self._reconnect("local mirror cleared", 0.0, is_error=False)
            await self._guarded(writer.discard())
            self._cleared()
            return
        if self._status.role == "follower":
            raise RuntimeError(FOLLOWER_CANNOT_CLEAR)
        await self._clear_unowned()

    async def _clear_unowned(self) -> None:
        """Offline (or not yet elected): discard under the writer lock, if nobody holds it."""
        if not self.mirror_file.exists():
            return
        election = WriterElection(writer_lock_file(self.mirror_file))
        if not election.try_acquire():
            raise RuntimeError(FOLLOWER_CANNOT_CLEAR)
        try:

            def discard() -> None:
                db = MirrorDb.open(self.mirror_file)
                try:
                    MirrorWriter(db, self.subscription_key).discard_sync()
                finally:
                    db.close()

            await asyncio.to_thread(discard)
        finally:
            election.release()
        self._cleared(self._status.notice)

    async def save_copy(
        self, target: Path, on_progress: Callable[[int, int], None] | None = None
    ) -> None:
        """A consistent copy of the mirror at ``target`` (``mirror.mirror_files.save_copy``;
        ``on_progress(bytes_done, bytes_total)`` runs on the copying thread)."""
        await asyncio.to_thread(save_copy, self.mirror_file, Path(target), on_progress)


async def _plan_page(
    writer: MirrorWriter, incarnation: str, events: Sequence[Event], after: Any
) -> Any:
    return await writer.plan(events, after, incarnation=incarnation)
