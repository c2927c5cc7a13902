"""``StreamRuntime``: one stream's mirror in this process, a facade over the parts below.

Created by ``mirror.runtime.RuntimeRegistry`` (one per stream per process) and shared by every
view of the stream; ``retain()`` / ``release()`` count the views and the last release closes it.
The public members are the contract in docs/architecture.md; this docstring says how it works.

Parts. ``StatusPublisher`` (``status``, coalesced listeners; every connection and role change
goes through the ONE transition table of ``mirror.connection_state``). ``WriterElection``
decides the role. The writing side is ``mirror.leader.Leader``: the reconnect path, an
``IngestQueue`` (deliveries waiting for the single writer loop, and the ingest backoff), a
``WriterFile`` (open, archive on a new incarnation, quarantine on damage, background
quick_check) and a ``Redialer`` that owns the epoch, the ONE dial timer and the current
``Connection`` (``mirror.connection``: one object per dial that owns its steps, subscription,
deliveries and liveness probe; superseding it cancels it, and every late callback is checked
against the epoch in ``Redialer.is_current``). ``MirrorWatcher`` (``mirror.mirror_watcher``) is
the one watch of the mirror file in every role: it follows the file's identity, reads counts and
incarnation into a typed ``MirrorChange`` that the status takes them from, and re-runs the live
queries of views when a change says the data moved; ``reader`` asks it which file is current.
Followers run ``mirror.follower``'s server probe; ``ServerCalls`` makes the one-shot calls.

Roles. An online runtime first runs the writer election (a file lock beside the mirror). The
winner is the *leader*: it opens the mirror for writing, subscribes and writes. Everyone else
is a *follower*: it reads the same file, sees the leader's commits through its watcher
(``PRAGMA data_version``), keeps trying for the lock every ``election_poll`` and takes over
when the leader closes or dies. An offline runtime (no server) only reads.

Reconnecting. ``schedule_reconnect(error, delay)`` is the ONE path that drops a connection and
arms the dial timer, with the delays of ``mirror.backoff``. A pending ingest backoff is never
cut short: the timer fires no earlier than its deadline, whatever asked. A refused token
(``AuthError``) is not retried: ``connection`` becomes ``unauthorized`` and nothing dials until
``reconnect()``.
One-shot calls (append, runtimeState, kill, reset) go over HTTP batch and never touch the timer.

Ingest. The single writer loop applies everything queued so far in ONE transaction
(``MirrorWriter.ingest``) in a worker thread, shielded from cancellation (``mirror.shielded``)
so the in-memory checkpoints match what was committed. Too big a backlog drops the socket and
pages history instead.

One incarnation per mirror. Nothing is written that is not proven to be of the incarnation the
mirror records: each catch-up page comes with the stream's ``createdAt`` read in the same HTTP
batch; each delivery carries it in ``batch.state``; and the write transaction checks it against
``mirror_meta`` before any row (``IncarnationMismatch``). A mismatch writes nothing and dials
again at once; that dial's reconcile archives the old mirror (``mirror.archive``).

Damage. Damage found by the quick_check, a write or any read (``mirror.integrity.is_damage``)
makes the leader quarantine the file in its next dial and rebuild from the server; damage that
comes back ``MAX_DAMAGE_HEALS`` times with no successful write in between stops the dialling
(``connection`` ``failed``). Followers and offline runtimes say in ``notice`` that it is damaged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from mirror.archive import DEFAULT_KEEP_ARCHIVES
from mirror.connection_state import ConnectionState, Role
from mirror.election import WriterElection
from mirror.errors import NotTheWriterError, RuntimeClosedError
from mirror.follower import discard_unowned, probe_server, set_search_unowned
from mirror.leader import Leader
from mirror.mirror_change import MirrorChange
from mirror.mirror_files import save_copy
from mirror.mirror_watcher import MirrorWatcher
from mirror.paths import writer_lock_file
from mirror.runtime_reader import RuntimeReader
from mirror.runtime_status import (
    NO_LOCAL_MIRROR_NOTICE,
    RuntimeStatus,
    RuntimeTiming,
    follower_notice,
)
from mirror.server_calls import ServerCalls
from mirror.shielded import Shielded
from mirror.status_publisher import StatusListener, StatusPublisher
from mirror.writer_file import WriterFile

log = logging.getLogger(__name__)

T = TypeVar("T")

FOLLOWER_CANNOT_CLEAR = (
    "another Streamdesk process is writing this mirror; clear it there (or close it first)"
)
_C = ConnectionState


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
        self._timing = timing
        self._watcher = MirrorWatcher(
            mirror_file,
            loop=loop,
            poll_interval=timing.live_poll,
            coalesce_interval=timing.coalesce,
            on_change=self._on_change,
            on_damage=self._damage_reported,
        )
        self.reader = RuntimeReader(
            mirror_file,
            on_damage=self._damage_reported_threadsafe,
            identity=self._watcher.current_identity,
        )
        initial = _C.OFFLINE if server_url is None else _C.CONNECTING
        self._publisher = StatusPublisher(
            RuntimeStatus(connection=initial, role=Role.IDLE), loop=loop, coalesce=timing.coalesce
        )
        self._calls = ServerCalls(
            server_url, namespace, path, token, is_closed=lambda: self.is_closed, owner=repr(self)
        )
        self._loop = loop
        self._on_closed = on_closed
        self._refs = 0
        self._started = False
        self._closed = False
        self._closing: asyncio.Task[None] | None = None
        self._release_handle: asyncio.Handle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._shielded = Shielded()
        self._files = WriterFile(
            mirror_file,
            identity=(server_url or "", namespace, path),
            subscription_key=subscription_key,
            keep_archives=keep_archives,
            watcher=self._watcher,
            publisher=self._publisher,
            shielded=self._shielded,
            spawn=self.spawn,
            on_damage=self._damage_reported,
        )
        self._leader = Leader(
            name=repr(self),
            timing=timing,
            subscription_key=subscription_key,
            loop=loop,
            publisher=self._publisher,
            files=self._files,
            calls=self._calls,
            spawn=self.spawn,
            shielded=self._shielded,
            is_closed=lambda: self.is_closed,
        )
        # Every reconnect asked for (reason, delay asked, wait armed): for diagnostics and tests.
        self.reconnect_history = self._leader.reconnect_history
        # Tasks of the role in force (writer loop, or follower probe).
        self._role_tasks: list[asyncio.Task[None]] = []
        self._nudge: asyncio.Task[None] | None = None
        self._election: WriterElection | None = None

    def __repr__(self) -> str:
        where = self.server_url or "offline"
        return f"StreamRuntime({where!r}, {self.namespace!r}, {self.path!r})"

    # -- status -----------------------------------------------------------------------------------

    @property
    def status(self) -> RuntimeStatus:
        return self._publisher.status

    @property
    def is_closed(self) -> bool:
        return self._closed or self._closing is not None

    def add_listener(self, cb: StatusListener) -> Callable[[], None]:
        return self._publisher.add_listener(cb)

    async def wait_until(self, predicate: Callable[[RuntimeStatus], bool]) -> RuntimeStatus:
        """The status once ``predicate(status)`` holds (no deadline: wrap it in one)."""
        return await self._publisher.wait_until(predicate)

    def _on_change(self, change: MirrorChange) -> None:
        """The watcher read the mirror file: counts, incarnation, and whether views reload."""
        status = self._publisher.status
        changes: dict[str, Any] = {
            "event_count": change.count,
            "max_offset": change.max_offset,
            "incarnation": change.incarnation,
        }
        # A leader announces its own discards and rebuilds (with a notice saying why); anything
        # else that cleared or replaced the file was another process: the views must reload.
        if status.role is not Role.LEADER and change.reloads_views:
            changes["clear_version"] = status.clear_version + 1
        if status.role is Role.FOLLOWER:
            changes["notice"] = follower_notice(change.count)
        elif change.exists and status.notice == NO_LOCAL_MIRROR_NOTICE:
            changes["notice"] = None
        self._publisher.set(**changes)

    # -- lifetime ---------------------------------------------------------------------------------

    def retain(self) -> None:
        if self.is_closed:
            raise RuntimeClosedError(f"{self!r} is closed; acquire the stream again")
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

    def spawn(self, work: Awaitable[T], name: str) -> asyncio.Task[T]:
        task = asyncio.ensure_future(work, loop=self._loop)
        task.set_name(f"{name} {self!r}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    async def guarded(self, work: Awaitable[T]) -> T:
        """Run a mirror write to completion even if the caller is cancelled."""
        return await self._shielded.run(work)

    def _start(self) -> None:
        self._started = True
        if self.server_url is None:
            notice = None if self.mirror_file.exists() else NO_LOCAL_MIRROR_NOTICE
            self._publisher.set(notice=notice)
            self._watcher.start()
            return
        # An online runtime watches the file once its role is known: a leader's watch starts
        # when its writer has opened the file (which may first move a damaged one aside).
        self._election = WriterElection(
            writer_lock_file(self.mirror_file), poll_interval=self._timing.election_poll
        )
        self._publisher.set(role=Role.ELECTING)
        self._role_tasks = [self.spawn(self._elect(), "writer election")]

    def _stop_role_tasks(self) -> None:
        for task in (*self._role_tasks, self._nudge):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        self._role_tasks = []

    async def _close(self) -> None:
        self._publisher.set(connection=_C.CLOSED, role=Role.IDLE, catchup=None)
        self._leader.redial.stop()
        self._stop_role_tasks()
        self._files.stop_checking()
        # Writes already started finish (they are shielded); nothing new starts. What is left
        # are unsubscribes of earlier connections (each with its own deadline).
        await self._shielded.drain()
        others = [task for task in self._tasks if task is not asyncio.current_task()]
        if others:
            await asyncio.gather(*others, return_exceptions=True)
        self._watcher.close()
        await self._files.close()
        # After the writer connection is closed, so the next leader never meets it.
        if self._election is not None:
            self._election.release()
        await asyncio.to_thread(self.reader.close)
        await self._calls.aclose()
        self._closed = True
        self._publisher.close()
        self._on_closed(self)

    # -- election ---------------------------------------------------------------------------------

    async def _elect(self) -> None:
        election = self._election
        assert election is not None
        if not election.try_acquire():
            log.info("%s: another process writes %s; following it", self, self.mirror_file)
            self._publisher.set(
                role=Role.FOLLOWER, notice=follower_notice(self._publisher.status.event_count)
            )
            probe = probe_server(self._calls.client, self._publisher, self._timing)
            self._role_tasks.append(self.spawn(probe, "follower probe"))
            self._watcher.start()
            if not await election.wait_until_leader():
                return
            self._stop_role_tasks()
        log.info("%s: this process writes the mirror %s", self, self.mirror_file)
        self._publisher.set(
            role=Role.LEADER, notice=None, connection=_C.CONNECTING, last_error=None
        )
        self._role_tasks.extend(self._leader.start())

    # -- the leader -------------------------------------------------------------------------------

    def schedule_reconnect(self, error: str, delay: float) -> None:
        """Drop the connection and dial again after ``delay`` s (never before a pending
        ingest backoff ends). The one path that redials (``mirror.leader``)."""
        self._leader.schedule_reconnect(error, delay)

    def reconnect(self) -> None:
        """Drop the current connection and dial again now (a no-op unless this process
        writes the mirror)."""
        self._leader.reconnect()

    # -- damage -----------------------------------------------------------------------------------

    def _damage_reported_threadsafe(self, message: str) -> None:
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._damage_reported, message)

    def _damage_reported(self, message: str) -> None:
        """A read or a write found the mirror file damaged."""
        if self.is_closed:
            return
        role = self._publisher.status.role
        if role is Role.LEADER:
            self._leader.heal_damage(message)
        elif role is Role.FOLLOWER:
            self._publisher.set(
                notice=f"the mirror file is damaged ({message}); the Streamdesk process that "
                "writes it moves it aside and rebuilds it"
            )
        else:
            self._publisher.set(
                notice=f"this mirror file is damaged ({message}); open the stream online to "
                "rebuild it from the server"
            )

    # -- one-shot calls -------------------------------------------------------------------------

    def set_token(self, token: str | None) -> None:
        """Use ``token`` from the next call or dial on (a dial in progress keeps the old one);
        after an ``unauthorized`` status, ``reconnect()`` dials with it."""
        self._calls.set_token(token)

    async def append(self, event: dict[str, Any]) -> dict[str, Any]:
        committed = await self._calls.append(event)
        self._nudge_after(committed.get("offset"))
        return committed

    async def append_batch(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Append ``events`` in one call (all or none); the committed events, in order."""
        committed = await self._calls.append_batch(events)
        if committed:
            self._nudge_after(committed[-1].get("offset"))
        return committed

    def _nudge_after(self, offset: object) -> None:
        nudging = self._nudge is not None and not self._nudge.done()
        if self._publisher.status.role is Role.LEADER and isinstance(offset, int) and not nudging:
            # Our own append: check the subscription now rather than at the next probe (one
            # check at a time; a stale subscription is stale for every later append too).
            self._nudge = self.spawn(self._leader.nudge(offset), "nudge after append")

    async def runtime_state(self) -> dict[str, Any]:
        return await self._calls.runtime_state()

    async def child_paths(self, path: str) -> list[str]:
        return await self._calls.child_paths(path)

    async def kill(self) -> None:
        await self._leader.control("kill")

    async def reset(self) -> None:
        await self._leader.control("reset")

    # -- local mirror -----------------------------------------------------------------------------

    def live_query(
        self,
        sql: str,
        params: tuple[Any, ...],
        cb: Callable[[list[tuple[Any, ...]]], None],
    ) -> Callable[[], None]:
        """``cb(rows)`` on the loop once it has run and whenever the result changes (it re-runs
        when the watcher's change says the data moved); returns remove."""
        return self._watcher.watch(sql, tuple(params), cb)

    async def clear_local(self) -> None:
        """Discard the local mirror and mirror the stream again from its start."""
        role = self._publisher.status.role
        if role is Role.LEADER:
            await self._leader.clear()
            return
        if role is Role.FOLLOWER:
            raise NotTheWriterError(FOLLOWER_CANNOT_CLEAR)
        # Offline (or not yet elected): discard under the writer lock, if nobody holds it.
        if not self.mirror_file.exists():
            return
        if not await discard_unowned(self.mirror_file, self.subscription_key):
            raise NotTheWriterError(FOLLOWER_CANNOT_CLEAR)
        if self._watcher.is_watching:
            # It reads the emptied file at its next tick; its change reloads the views.
            self._watcher.signal()
        else:
            self._publisher.cleared(self._publisher.status.notice)

    async def set_search_index(self, enabled: bool) -> None:
        """Turn this mirror's search index on or off (a per-mirror setting kept in the file;
        off drops the index, on builds it again in the writer's idle time)."""
        role = self._publisher.status.role
        if role is Role.LEADER:
            await self._leader.set_search_index(enabled)
        elif role is Role.FOLLOWER or (
            self.mirror_file.exists() and not await set_search_unowned(self.mirror_file, enabled)
        ):
            raise NotTheWriterError(
                "another Streamdesk process is writing this mirror; change its search index there"
            )

    async def save_copy(
        self, target: Path, on_progress: Callable[[int, int], None] | None = None
    ) -> None:
        """A consistent copy of the mirror at ``target`` (``mirror.mirror_files.save_copy``;
        ``on_progress(bytes_done, bytes_total)`` runs on the copying thread)."""
        await asyncio.to_thread(save_copy, self.mirror_file, Path(target), on_progress)
