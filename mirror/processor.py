"""``StreamProcessor``: the base class every stream processor builds on (asyncio, no I/O here).

Public API:

- ``Event`` (from ``mirror.types``): a committed stream event as decoded JSON.
- ``StoredState(offset, state)``: a persisted checkpoint (``state`` is JSON-like).
- ``StateStorage``: protocol with ``async read_state(slug, subscription_key)`` and
  ``async write_state(slug, subscription_key, state, offset)``.
- ``Snapshot(offset, state)``: what ``snapshot()`` returns.
- ``StagedBatch``: what ``stage`` returns (fresh events, consumed events, entry offset/state,
  ``stream_max_offset``, checkpoint offset).
- ``ReducedEvent(event, previous_state, next_state)`` and ``EventBatch``: what the hooks see.
- ``StreamProcessor[S]``: subclass it and set ``slug`` (and ``consumes``, ``None`` = every type).
  Override as needed: ``initial_state()``, ``parse_state(stored)`` / ``dump_state(state)``,
  ``validate_event(event)`` (raise to reject the batch), ``reduce(state, event)`` (pure),
  ``async prepare()`` (one-time setup before the first checkpoint read), ``async
  process_event_batch(batch)`` (default: ``process_event`` per reduced event), ``async
  process_event(reduced, batch)``, and for processors that own storage ``async
  read_checkpoint()`` / ``async write_checkpoint(batch)``.
  Host calls: ``await ingest(events, stream_max_offset=None)``, ``await snapshot()``,
  ``await on_state_change(callback) -> unsubscribe``, ``reset()`` (forget the loaded
  checkpoint, e.g. after the mirror was discarded), ``lock`` (held while a batch runs).
- The steps ``ingest`` runs, public so a host that composes processors in one transaction
  (``mirror.processors.mirror_writer.MirrorWriter``) runs the very same ones, in this order:
  ``load_from(state, offset)`` (the checkpoint read); ``stage(events, stream_max_offset=None,
  start=None) -> StagedBatch | None`` (the events past the checkpoint, or past ``start =
  (offset, state)`` where an unwritten plan ends; the ``consumes`` filter; ``validate_event``
  per consumed event); ``plan(staged) -> EventBatch`` (the reduction: ``reduce`` per consumed
  event; a mirror processor plans its rows instead, see ``mirror.processors.base``); the hooks
  and the write (``write_checkpoint``; a mirror processor writes with ``write_batch``); and
  ``advance(state, offset)`` once the write is durable (listeners hear of a changed state
  object). ``stage`` and ``plan`` are pure (no I/O, any thread).

Semantics (ported from the reference ``StreamProcessor``):

- ``ingest`` calls are serialized; a failed batch rejects that call only and never poisons the
  next one. The first call runs ``prepare()`` once, then reads the checkpoint (a failed read is
  not cached, the next call retries).
- Events at or below the checkpoint (or repeated inside the batch) are dropped; every remaining
  event advances the checkpoint, consumed or not. A batch with nothing new calls no hook and
  writes nothing.
- Consumed events are validated, then reduced; the hooks run; all work registered with
  ``batch.block_processor_while`` is awaited (all of it settles before any error propagates);
  only then is the checkpoint written, durably, and only after that write succeeds does the
  in-memory state advance. So a failed write leaves the batch to be redelivered and re-applied.
- ``batch.run_in_background(work)`` does not hold the checkpoint; failures are logged as
  "stream processor background work failed". Both kinds of work go through the optional
  ``keep_alive_while`` host callback.
- Without storage, checkpoints live in memory only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast

from mirror.errors import ProcessorNotReadyError
from mirror.types import Event

log = logging.getLogger(__name__)

S = TypeVar("S")
T = TypeVar("T")

BACKGROUND_FAILURE_MESSAGE = "stream processor background work failed"


def events_after(events: Sequence[Event], checkpoint: int) -> list[Event]:
    """Events past ``checkpoint``, strictly increasing (replays and repeats dropped)."""
    if events and events[0]["offset"] > checkpoint:
        # Fast path for the common case: a delivered batch that starts past the checkpoint
        # and is already strictly increasing (the server guarantees it within a batch).
        last = checkpoint
        for event in events:
            offset = event["offset"]
            if offset <= last:
                break
            last = offset
        else:
            return list(events)
    last = checkpoint
    fresh: list[Event] = []
    for event in events:
        offset = event["offset"]
        if offset > last:
            fresh.append(event)
            last = offset
    return fresh


@dataclass(frozen=True, slots=True)
class StoredState:
    """A persisted checkpoint: the last applied offset and the reduced state (JSON-like)."""

    offset: int
    state: Any


@dataclass(frozen=True, slots=True)
class Snapshot(Generic[S]):
    offset: int
    state: S


class StateStorage(Protocol):
    async def read_state(self, slug: str, subscription_key: str) -> StoredState | None: ...

    async def write_state(
        self, slug: str, subscription_key: str, state: Any, offset: int
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class ReducedEvent(Generic[S]):
    event: Event
    previous_state: S
    next_state: S


@dataclass(frozen=True, slots=True)
class StagedBatch(Generic[S]):
    """A batch staged for planning: the events past where it starts (in offset order), the
    consumed ones among them (``events`` itself when the processor consumes every type), all
    validated; where it starts (``entry_offset``, ``entry_state``) and the offset it ends at."""

    events: list[Event]
    consumed: list[Event]
    entry_offset: int
    entry_state: S
    stream_max_offset: int | None
    checkpoint_offset: int


@dataclass(slots=True)
class EventBatch(Generic[S]):
    """One batch as the hooks see it: only new events, plus entry and exit state."""

    events: list[Event]
    reduced: list[ReducedEvent[S]]
    entry_state: S
    exit_state: S
    stream_max_offset: int | None
    checkpoint_offset: int
    _keep_alive: Callable[[Awaitable[Any]], object] | None = None
    _blocking: list[asyncio.Future[Any]] = field(default_factory=list)
    _background: set[asyncio.Future[Any]] = field(default_factory=set)

    def block_processor_while(self, work: Awaitable[T]) -> asyncio.Future[T]:
        """Hold this batch's checkpoint (and the next batch) until ``work`` settles."""
        future = asyncio.ensure_future(work)
        self._blocking.append(future)
        if self._keep_alive is not None:
            self._keep_alive(future)
        return future

    def run_in_background(self, work: Awaitable[Any]) -> None:
        """Fire and forget; a failure is logged, never fails the batch."""
        future = asyncio.ensure_future(work)
        self._background.add(future)
        future.add_done_callback(self._background_done)
        if self._keep_alive is not None:
            self._keep_alive(future)

    def _background_done(self, future: asyncio.Future[Any]) -> None:
        self._background.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error(BACKGROUND_FAILURE_MESSAGE, exc_info=future.exception())

    async def _settle_blocking(self) -> list[BaseException]:
        """Wait for every blocking work item (including ones registered meanwhile)."""
        errors: list[BaseException] = []
        settled = 0
        while settled < len(self._blocking):
            pending = self._blocking[settled:]
            settled = len(self._blocking)
            results = await asyncio.gather(*pending, return_exceptions=True)
            errors.extend(result for result in results if isinstance(result, BaseException))
        return errors


class StreamProcessor(Generic[S]):
    """Base class: serialized ingest, pure reduce, checkpoint after blocking work succeeds."""

    slug: ClassVar[str] = ""
    consumes: ClassVar[frozenset[str] | None] = None

    def __init__(
        self,
        *,
        storage: StateStorage | None = None,
        subscription_key: str = "",
        keep_alive_while: Callable[[Awaitable[Any]], object] | None = None,
    ) -> None:
        self.storage = storage
        self.subscription_key = subscription_key
        self._keep_alive = keep_alive_while
        self.lock = asyncio.Lock()
        self._prepared = False
        self._loaded = False
        self._state: S | None = None
        self._offset = 0
        self._memory: StoredState | None = None
        self._listeners: list[Callable[[S], object]] = []
        self._background: set[asyncio.Future[Any]] = set()

    # -- hooks for subclasses -----------------------------------------------------------------

    def initial_state(self) -> S:
        raise NotImplementedError

    def parse_state(self, stored: Any) -> S:
        """Turn a stored JSON state back into ``S`` (fill defaults for missing fields here)."""
        return cast(S, stored)

    def dump_state(self, state: S) -> Any:
        """The JSON-like form of ``state`` that is persisted."""
        return state

    def validate_event(self, event: Event) -> None:
        """Raise to reject the whole batch (a consumed event with a bad payload)."""

    def reduce(self, state: S, event: Event) -> S:
        """Pure: the next state. Must not mutate ``state``."""
        return state

    async def prepare(self) -> None:
        """One-time async setup, run before the checkpoint is first read."""

    async def process_event_batch(self, batch: EventBatch[S]) -> None:
        for reduced in batch.reduced:
            await self.process_event(reduced, batch)

    async def process_event(self, reduced: ReducedEvent[S], batch: EventBatch[S]) -> None:
        """Side effects for one reduced event (default: none)."""

    async def read_checkpoint(self) -> StoredState | None:
        if self.storage is None:
            return self._memory
        return await self.storage.read_state(self.slug, self.subscription_key)

    async def write_checkpoint(self, batch: EventBatch[S]) -> None:
        """Persist ``(batch.checkpoint_offset, batch.exit_state)`` durably."""
        stored = StoredState(batch.checkpoint_offset, self.dump_state(batch.exit_state))
        if self.storage is None:
            self._memory = stored
            return
        await self.storage.write_state(
            self.slug, self.subscription_key, stored.state, stored.offset
        )

    # -- host API -----------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._loaded

    @property
    def checkpoint_offset(self) -> int:
        """The last applied offset (0 before loading)."""
        return self._offset

    @property
    def state(self) -> S:
        if not self._loaded:
            raise ProcessorNotReadyError(
                f"processor {self.slug!r} has not loaded its checkpoint yet"
            )
        return cast(S, self._state)

    async def ingest(self, events: Sequence[Event], stream_max_offset: int | None = None) -> None:
        async with self.lock:
            await self._ensure_loaded()
            staged = self.stage(events, stream_max_offset)
            if staged is None:
                return
            batch = self.plan(staged)
            await self._run_hooks(batch)
            await self.write_checkpoint(batch)
            self.advance(batch.exit_state, batch.checkpoint_offset)

    async def snapshot(self) -> Snapshot[S]:
        async with self.lock:
            await self._ensure_loaded()
            return Snapshot(self._offset, cast(S, self._state))

    async def on_state_change(self, callback: Callable[[S], object]) -> Callable[[], None]:
        """Push the current state now and after every change of the state object."""
        snapshot = await self.snapshot()
        self._listeners.append(callback)
        if not self._call_listener(callback, snapshot.state):
            return lambda: None

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    def reset(self) -> None:
        """Forget the loaded checkpoint; the next call reads it again (after a discard)."""
        self._loaded = False
        self._state = None
        self._offset = 0
        self._memory = None

    # -- steps (public: hosts that compose processors in one transaction run these) --------------

    def load_from(self, state: S, offset: int) -> None:
        """The checkpoint is loaded: ``state`` after ``offset``."""
        self._state = state
        self._offset = offset
        self._loaded = True

    async def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        if not self._prepared:
            await self.prepare()
            self._prepared = True
        stored = await self.read_checkpoint()
        if stored is None:
            self.load_from(self.initial_state(), 0)
        else:
            self.load_from(self.parse_state(stored.state), stored.offset)

    def stage(
        self,
        events: Sequence[Event],
        stream_max_offset: int | None = None,
        start: tuple[int, S] | None = None,
    ) -> StagedBatch[S] | None:
        """The events past the checkpoint (or past ``start = (offset, state)``, where a batch
        planned and not written yet ends), the consumed ones among them, each validated; None
        when none is new. Pure: no I/O, any thread."""
        entry_offset, entry_state = (self._offset, self.state) if start is None else start
        fresh = events_after(events, entry_offset)
        if not fresh:
            return None
        consumes = self.consumes
        consumed = fresh if consumes is None else [e for e in fresh if e["type"] in consumes]
        validate = self.validate_event
        for event in consumed:
            validate(event)
        return StagedBatch(
            events=fresh,
            consumed=consumed,
            entry_offset=entry_offset,
            entry_state=entry_state,
            stream_max_offset=stream_max_offset,
            checkpoint_offset=fresh[-1]["offset"],
        )

    def plan(self, staged: StagedBatch[S]) -> EventBatch[S]:
        """The reduction of a staged batch: ``reduce`` per consumed event, for the hooks."""
        state = staged.entry_state
        reduced: list[ReducedEvent[S]] = []
        for event in staged.consumed:
            next_state = self.reduce(state, event)
            reduced.append(ReducedEvent(event, state, next_state))
            state = next_state
        return EventBatch(
            events=staged.events,
            reduced=reduced,
            entry_state=staged.entry_state,
            exit_state=state,
            stream_max_offset=staged.stream_max_offset,
            checkpoint_offset=staged.checkpoint_offset,
            _keep_alive=self._keep_alive,
            _background=self._background,
        )

    async def _run_hooks(self, batch: EventBatch[S]) -> None:
        try:
            await self.process_event_batch(batch)
        except BaseException:
            # Settle registered work first so nothing rejects unobserved, then fail the batch.
            await batch._settle_blocking()
            raise
        errors = await batch._settle_blocking()
        if errors:
            raise errors[0]

    def advance(self, state: S, offset: int) -> None:
        """The write of a batch ending at ``offset`` with ``state`` is durable: move on."""
        changed = state is not self._state
        self._state = state
        self._offset = offset
        if changed:
            for callback in list(self._listeners):
                self._call_listener(callback, state)

    def _call_listener(self, callback: Callable[[S], object], state: S) -> bool:
        try:
            callback(state)
        except Exception:
            log.exception("stream processor state listener failed; removing it")
            if callback in self._listeners:
                self._listeners.remove(callback)
            return False
        return True
