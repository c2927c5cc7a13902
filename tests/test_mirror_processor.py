"""StreamProcessor semantics (client-runtime.md §10 A-C) and the mirror processors/writer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import apsw
import pytest

from mirror.db import MirrorDb
from mirror.feed_planner import FeedState, plan_feed
from mirror.processor import (
    BACKGROUND_FAILURE_MESSAGE,
    EventBatch,
    ReducedEvent,
    StoredState,
    StreamProcessor,
)
from mirror.processors import (
    EventFeedProcessor,
    IncarnationMismatch,
    MirrorWriter,
    RawEventsProcessor,
)
from mirror.processors.mirror_writer import WriterPlan
from mirror.reconcile import ReconcileAction
from mirror.schema import EVENT_FEED_SLUG, RAW_EVENTS_SLUG
from mirror.types import Event

CREATED_AT = "2026-06-01T12:00:00.000Z"


def ev(offset: int, event_type: str = "add", **payload: Any) -> dict[str, Any]:
    return {"type": event_type, "payload": payload, "offset": offset, "createdAt": CREATED_AT}


class TestStorage:
    """A real in-memory StateStorage with switchable faults."""

    __test__ = False

    def __init__(self, stored: StoredState | None = None) -> None:
        self.stored = stored
        self.writes: list[StoredState] = []
        self.reads = 0
        self.fail_reads = 0
        self.fail_writes = 0

    async def read_state(self, slug: str, subscription_key: str) -> StoredState | None:
        self.reads += 1
        if self.fail_reads:
            self.fail_reads -= 1
            raise OSError("storage read failed")
        return self.stored

    async def write_state(self, slug: str, subscription_key: str, state: Any, offset: int) -> None:
        if self.fail_writes:
            self.fail_writes -= 1
            raise OSError("storage write failed")
        self.stored = StoredState(offset, state)
        self.writes.append(self.stored)


class Totals(StreamProcessor[dict[str, int]]):
    """Sums ``add`` amounts; ``consumes`` only ``add`` unless told otherwise."""

    slug = "totals"
    consumes: ClassVar[frozenset[str] | None] = frozenset({"add"})

    def __init__(self, storage: TestStorage | None = None, **kwargs: Any) -> None:
        super().__init__(storage=storage, **kwargs)
        self.events_seen: list[tuple[int, int, int, int]] = []
        self.batches: list[EventBatch[dict[str, int]]] = []

    def initial_state(self) -> dict[str, int]:
        return {"total": 0, "other": 0}

    def parse_state(self, stored: Any) -> dict[str, int]:
        return {**self.initial_state(), **stored}

    def validate_event(self, event: Event) -> None:
        if event["type"] == "add" and not isinstance(event["payload"].get("amount"), int):
            raise ValueError("add needs an integer amount")

    def reduce(self, state: dict[str, int], event: Event) -> dict[str, int]:
        if event["type"] == "add":
            return {**state, "total": state["total"] + event["payload"]["amount"]}
        return {**state, "other": state["other"] + 1}

    async def process_event_batch(self, batch: EventBatch[dict[str, int]]) -> None:
        self.batches.append(batch)
        await super().process_event_batch(batch)

    async def process_event(
        self, reduced: ReducedEvent[dict[str, int]], batch: EventBatch[dict[str, int]]
    ) -> None:
        self.events_seen.append(
            (
                reduced.event["offset"],
                reduced.previous_state["total"],
                reduced.next_state["total"],
                batch.checkpoint_offset,
            )
        )


class WildcardTotals(Totals):
    consumes = None


# -- B. StreamProcessor class (cases 7-23) ------------------------------------------------------


async def test_reduces_and_writes_one_checkpoint_per_batch() -> None:  # 7
    storage = TestStorage()
    processor = Totals(storage)
    await processor.ingest([ev(1, amount=5), ev(2, amount=7)])
    assert storage.writes == [StoredState(2, {"total": 12, "other": 0})]


async def test_resume_parses_stored_state_and_skips_replayed_events() -> None:  # 8
    storage = TestStorage(StoredState(2, {"total": 12}))
    processor = Totals(storage)
    await processor.ingest([ev(1, amount=5), ev(2, amount=7), ev(3, amount=1)])
    assert processor.events_seen == [(3, 12, 13, 3)]
    assert storage.stored == StoredState(3, {"total": 13, "other": 0})


async def test_pure_replay_writes_nothing_and_calls_no_hooks() -> None:  # 9
    storage = TestStorage(StoredState(2, {"total": 12, "other": 0}))
    processor = Totals(storage)
    await processor.ingest([ev(1, amount=5), ev(2, amount=7)])
    assert storage.writes == [] and processor.batches == []


async def test_unconsumed_events_advance_the_checkpoint_without_process_event() -> None:  # 10
    storage = TestStorage()
    processor = Totals(storage)
    await processor.ingest([ev(1, "noise"), ev(2, "noise")])
    assert storage.writes == [StoredState(2, {"total": 0, "other": 0})]
    assert processor.events_seen == []


async def test_default_batch_hook_calls_process_event_per_reduced_event() -> None:  # 11
    processor = Totals(TestStorage())
    await processor.ingest([ev(1, amount=5), ev(2, "noise"), ev(3, amount=7)])
    assert processor.events_seen == [(1, 0, 5, 3), (3, 5, 12, 3)]


async def test_batch_hook_sees_only_new_events_and_entry_exit_state() -> None:  # 12
    processor = Totals(TestStorage(StoredState(1, {"total": 5, "other": 0})))
    await processor.ingest([ev(1, amount=5), ev(2, amount=7), ev(2, amount=7)])
    (batch,) = processor.batches
    assert [event["offset"] for event in batch.events] == [2]
    assert batch.entry_state == {"total": 5, "other": 0}
    assert batch.exit_state == {"total": 12, "other": 0}


async def test_batches_are_strictly_serialized() -> None:  # 13
    order: list[str] = []

    class Slow(Totals):
        async def process_event_batch(self, batch: EventBatch[dict[str, int]]) -> None:
            order.append(f"start{batch.checkpoint_offset}")
            await asyncio.sleep(0.01)
            order.append(f"end{batch.checkpoint_offset}")

    processor = Slow(TestStorage())
    await asyncio.gather(processor.ingest([ev(1, amount=1)]), processor.ingest([ev(2, amount=1)]))
    assert order == ["start1", "end1", "start2", "end2"]


async def test_failed_batch_writes_nothing_and_does_not_poison_the_queue() -> None:  # 14
    storage = TestStorage()
    processor = Totals(storage)
    with pytest.raises(ValueError):
        await processor.ingest([ev(1, amount=5), ev(2, amount="x")])
    assert storage.writes == []
    await processor.ingest([ev(1, amount=5), ev(2, amount=7)])
    assert storage.stored == StoredState(2, {"total": 12, "other": 0})


async def test_write_failure_then_redelivery_persists_exactly_once() -> None:  # 4 (T2, C2)
    storage = TestStorage()
    storage.fail_writes = 1
    processor = Totals(storage)
    with pytest.raises(OSError):
        await processor.ingest([ev(1, amount=5)])
    assert processor.checkpoint_offset == 0  # memory did not advance before the durable write
    await processor.ingest([ev(1, amount=5)])
    assert storage.writes == [StoredState(1, {"total": 5, "other": 0})]


async def test_block_processor_while_holds_the_checkpoint() -> None:  # 15
    storage = TestStorage()
    release = asyncio.Event()

    class Blocking(Totals):
        async def process_event_batch(self, batch: EventBatch[dict[str, int]]) -> None:
            batch.block_processor_while(release.wait())

    processor = Blocking(storage)
    task = asyncio.create_task(processor.ingest([ev(1, amount=5)]))
    await asyncio.sleep(0.02)
    assert storage.writes == [] and not task.done()
    release.set()
    await task
    assert storage.writes == [StoredState(1, {"total": 5, "other": 0})]


async def test_failing_blocking_work_fails_the_batch_and_retry_succeeds() -> None:  # 16
    storage = TestStorage()
    failures = [RuntimeError("side effect failed")]

    async def work() -> None:
        if failures:
            raise failures.pop()

    class Blocking(Totals):
        async def process_event_batch(self, batch: EventBatch[dict[str, int]]) -> None:
            batch.block_processor_while(work())

    processor = Blocking(storage)
    with pytest.raises(RuntimeError, match="side effect failed"):
        await processor.ingest([ev(1, amount=5)])
    assert storage.writes == []
    await processor.ingest([ev(1, amount=5)])
    assert storage.writes == [StoredState(1, {"total": 5, "other": 0})]


async def test_throwing_hook_waits_for_registered_work_then_rejects() -> None:  # 17
    settled: list[str] = []

    async def work() -> None:
        await asyncio.sleep(0.02)
        settled.append("work")

    class Throws(Totals):
        async def process_event_batch(self, batch: EventBatch[dict[str, int]]) -> None:
            batch.block_processor_while(work())
            raise KeyError("hook failed")

    storage = TestStorage()
    with pytest.raises(KeyError, match="hook failed"):
        await Throws(storage).ingest([ev(1, amount=5)])
    assert settled == ["work"] and storage.writes == []


async def test_background_work_does_not_hold_checkpoint_and_failures_are_logged(  # 18
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage = TestStorage()
    release = asyncio.Event()

    async def background() -> None:
        await release.wait()
        raise RuntimeError("background boom")

    class Background(Totals):
        async def process_event_batch(self, batch: EventBatch[dict[str, int]]) -> None:
            batch.run_in_background(background())

    await Background(storage).ingest([ev(1, amount=5)])
    assert storage.writes == [StoredState(1, {"total": 5, "other": 0})]
    with caplog.at_level(logging.ERROR, logger="mirror.processor"):
        release.set()
        for _ in range(5):
            await asyncio.sleep(0)
    assert BACKGROUND_FAILURE_MESSAGE in caplog.text


async def test_blocking_and_background_work_go_through_keep_alive() -> None:  # 19
    kept: list[Awaitable[Any]] = []

    class Both(Totals):
        async def process_event_batch(self, batch: EventBatch[dict[str, int]]) -> None:
            batch.block_processor_while(asyncio.sleep(0))
            batch.run_in_background(asyncio.sleep(0))

    await Both(TestStorage(), keep_alive_while=kept.append).ingest([ev(1, amount=1)])
    assert len(kept) == 2


async def test_failed_read_is_not_cached() -> None:  # 20
    storage = TestStorage(StoredState(1, {"total": 5, "other": 0}))
    storage.fail_reads = 1
    prepared: list[int] = []

    class Prepared(Totals):
        async def prepare(self) -> None:
            prepared.append(1)

    processor = Prepared(storage)
    with pytest.raises(OSError):
        await processor.ingest([ev(2, amount=1)])
    await processor.ingest([ev(2, amount=1)])
    assert storage.reads == 2 and prepared == [1]
    assert storage.stored == StoredState(2, {"total": 6, "other": 0})


async def test_without_storage_snapshots_live_in_memory() -> None:  # 21
    processor = Totals()
    await processor.ingest([ev(1, amount=5), ev(2, amount=2)])
    snapshot = await processor.snapshot()
    assert (snapshot.offset, snapshot.state) == (2, {"total": 7, "other": 0})


async def test_wildcard_validates_named_and_passes_others() -> None:  # 22
    processor = WildcardTotals(TestStorage())
    await processor.ingest([ev(1, amount=7), ev(2, "something-else")])
    assert (await processor.snapshot()).state == {"total": 7, "other": 1}


async def test_wildcard_bad_named_payload_rejects_the_batch() -> None:  # 23
    storage = TestStorage()
    processor = WildcardTotals(storage)
    with pytest.raises(ValueError):
        await processor.ingest([ev(1, "something-else"), ev(2, amount=None)])
    assert (await processor.snapshot()).offset == 0 and storage.writes == []


async def test_on_state_change_pushes_now_and_only_on_new_state() -> None:  # 24-26
    processor = Totals(TestStorage())
    seen: list[dict[str, int]] = []
    unsubscribe = await processor.on_state_change(seen.append)
    assert seen == [{"total": 0, "other": 0}]
    await processor.ingest([ev(1, amount=2)])
    await processor.ingest([ev(1, amount=2)])  # duplicate replay: no notification
    assert seen == [{"total": 0, "other": 0}, {"total": 2, "other": 0}]

    class Identity(Totals):
        def reduce(self, state: dict[str, int], event: Event) -> dict[str, int]:
            return state

    same = Identity(TestStorage())
    calls: list[dict[str, int]] = []
    await same.on_state_change(calls.append)
    await same.ingest([ev(1, amount=2)])
    assert len(calls) == 1  # the reducer returned the same object
    unsubscribe()
    await processor.ingest([ev(2, amount=3)])
    assert len(seen) == 2


# -- C. checkpoints in the mirror file (cases 28-34) ---------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Iterator[MirrorDb]:
    mirror = MirrorDb.open(tmp_path / "m.sqlite3")
    yield mirror
    mirror.close()


def test_checkpoints_round_trip_per_slug_and_key(db: MirrorDb) -> None:  # 28, 29
    db.write_checkpoint("p", "k1", {"a": 1}, 1)
    db.write_checkpoint("p", "k1", {"a": 2}, 2)
    db.write_checkpoint("p", "k2", {"b": 1}, 5)
    db.write_checkpoint("q", "k1", {}, 9)
    assert db.read_checkpoint("p", "k1") == StoredState(2, {"a": 2})
    assert db.read_checkpoint("p", "k2") == StoredState(5, {"b": 1})
    db.delete_checkpoints("p", "k1")
    assert db.read_checkpoint("p", "k1") is None and db.read_checkpoint("p", "k2") is not None
    db.delete_checkpoints("p")
    assert db.read_checkpoint("p", "k2") is None
    assert db.read_checkpoint("q", "k1") == StoredState(9, {})


async def test_raw_events_processor_mirrors_and_checkpoints(db: MirrorDb) -> None:  # 30, 33
    processor = RawEventsProcessor(db, "key")
    await processor.ingest([ev(1), ev(2)])
    assert db.read_checkpoint(RAW_EVENTS_SLUG, "key") == StoredState(2, {})
    assert [row.offset for row in db.events_range(0, 10)] == [1, 2]
    again = RawEventsProcessor(db, "key")
    await again.ingest([ev(1), ev(2), ev(3)])
    assert [row.offset for row in db.events_range(0, 10)] == [1, 2, 3]


async def test_raw_events_gap_fails_the_batch(db: MirrorDb) -> None:  # 34
    processor = RawEventsProcessor(db)
    await processor.ingest([ev(1)])
    with pytest.raises(apsw.ConstraintError, match="append continuously"):
        await processor.ingest([ev(3)])
    assert processor.checkpoint_offset == 1
    assert db.read_checkpoint(RAW_EVENTS_SLUG) == StoredState(1, {})


async def test_feed_processor_state_is_the_planners_end_state(db: MirrorDb) -> None:
    types = ["events.iterate.com/stream/created", "a", "a", "b", "a", "a"]
    events = [ev(i + 1, t) for i, t in enumerate(types)]
    processor = EventFeedProcessor(db)
    await processor.ingest(events[:3])
    await processor.ingest(events)
    stored = db.read_checkpoint(EVENT_FEED_SLUG)
    assert stored is not None
    assert FeedState.from_json(stored.state) == plan_feed(FeedState(), events).end_state
    assert processor.state == plan_feed(FeedState(), events).end_state
    assert [(r.component, r.first_offset, r.last_offset) for r in db.feed_range(0, 10)] == [
        ("stream.created", 1, 1),
        ("group", 2, 3),
        ("group", 4, 4),
        ("group", 5, 6),
    ]


# -- MirrorWriter: raw + feed + checkpoints in one transaction ---------------------------------


async def test_writer_applies_everything_in_one_transaction(db: MirrorDb) -> None:
    commits: list[int] = []
    db.add_commit_listener(lambda: commits.append(db.event_count()))
    writer = MirrorWriter(db, "sub")
    applied = await writer.ingest([ev(i, "a" if i < 150 else "b") for i in range(1, 301)])
    assert applied == 300 and commits == [300]
    assert db.read_checkpoint(RAW_EVENTS_SLUG, "sub") == StoredState(300, {})
    feed = db.read_checkpoint(EVENT_FEED_SLUG, "sub")
    assert feed is not None and feed.offset == 300
    assert [(r.first_offset, r.last_offset, r.event_count) for r in db.feed_range(0, 10)] == [
        (1, 149, 149),
        (150, 300, 151),
    ]
    assert db.type_counts() == {"a": 149, "b": 151}
    assert await writer.checkpoint() == 300


async def test_writer_drops_replays_and_overlapping_batches(db: MirrorDb) -> None:
    writer = MirrorWriter(db)
    await writer.ingest([ev(1), ev(2), ev(3)])
    # Two delivered batches concatenated, overlapping each other and the mirror.
    applied = await writer.ingest([ev(2), ev(3), ev(4), ev(3), ev(4), ev(5)])
    assert applied == 2
    assert db.event_count() == 5 and db.feed_range(0, 5)[0].event_count == 5
    assert await writer.ingest([ev(1), ev(5)]) == 0


async def test_writer_failed_batch_writes_nothing_and_next_one_applies(db: MirrorDb) -> None:
    writer = MirrorWriter(db)
    await writer.ingest([ev(1, "a"), ev(2, "a")])
    with pytest.raises(apsw.ConstraintError, match="append continuously"):
        await writer.ingest([ev(3, "b"), ev(5, "b")])
    assert db.event_count() == 2 and db.feed_count() == 1
    assert await writer.checkpoint() == 2
    assert db.type_counts() == {"a": 2}
    assert await writer.ingest([ev(3, "b"), ev(4, "b"), ev(5, "b")]) == 3
    assert [r.event_count for r in db.feed_range(0, 5)] == [2, 3]


def assert_same_mirror(one: MirrorDb, other: MirrorDb) -> None:
    assert one.feed_count() == other.feed_count() > 0
    assert one.feed_range(0, 1000) == other.feed_range(0, 1000)
    assert list(one.iter_events_json()) == list(other.iter_events_json())
    assert one.read_checkpoint(EVENT_FEED_SLUG) == other.read_checkpoint(EVENT_FEED_SLUG)


async def test_writer_matches_the_standalone_processors(tmp_path: Path) -> None:
    types = ["events.iterate.com/stream/created", "events.iterate.com/stream/woken"]
    types += ["a"] * 250 + ["b", "a"]
    events = [ev(i + 1, t) for i, t in enumerate(types)]
    combined = MirrorDb.open(tmp_path / "combined.sqlite3")
    separate = MirrorDb.open(tmp_path / "separate.sqlite3")
    writer = MirrorWriter(combined)
    raw, feed = RawEventsProcessor(separate), EventFeedProcessor(separate)
    for start in range(0, len(events), 37):
        await writer.ingest(events[start : start + 37])
        await raw.ingest(events[start : start + 37])
        await feed.ingest(events[start : start + 37])
    assert_same_mirror(combined, separate)
    combined.close()
    separate.close()


async def test_chained_plans_write_what_one_ingest_writes(tmp_path: Path) -> None:
    types = ["events.iterate.com/stream/created"] + ["a"] * 230 + ["b", "a", "a"] * 40
    events = [ev(i + 1, t) for i, t in enumerate(types)]
    piped, whole = MirrorDb.open(tmp_path / "piped.sqlite3"), MirrorDb.open(tmp_path / "w.sqlite3")
    writer = MirrorWriter(piped)
    plans: list[WriterPlan] = []
    for start in range(0, len(events), 64):  # every plan made before any is written
        plans.append(await writer.plan(events[start : start + 64], plans[-1] if plans else None))
    assert [await writer.write(plan) for plan in plans] == [64] * 5 + [len(events) - 320]
    await MirrorWriter(whole).ingest(events)
    assert_same_mirror(piped, whole)
    piped.close()
    whole.close()


async def test_a_plan_whose_start_is_gone_is_planned_again(db: MirrorDb) -> None:
    writer = MirrorWriter(db)
    stale = await writer.plan([ev(1, "a"), ev(2, "a"), ev(3, "b")])
    await writer.ingest([ev(1, "a"), ev(2, "c")])  # another write moves the mirror on
    assert await writer.write(stale) == 1  # only offset 3 is new; 2 stays as it was written
    assert [(r.first_offset, r.last_offset) for r in db.feed_range(0, 5)] == [
        (1, 1),
        (2, 2),
        (3, 3),
    ]
    assert db.type_counts() == {"a": 1, "b": 1, "c": 1}
    assert await writer.checkpoint() == 3


async def test_writer_resumes_from_the_file_after_reopen(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    first = MirrorDb.open(path)
    await MirrorWriter(first, "k").ingest([ev(i, "a") for i in range(1, 11)])
    first.close()
    second = MirrorDb.open(path)
    writer = MirrorWriter(second, "k")
    assert await writer.checkpoint() == 10
    await writer.ingest([ev(i, "a") for i in range(5, 13)])
    assert second.event_count() == 12
    assert [(r.first_offset, r.last_offset) for r in second.feed_range(0, 5)] == [(1, 12)]
    second.close()


def test_writer_sync_api(db: MirrorDb) -> None:
    writer = MirrorWriter(db)
    assert writer.apply_sync([ev(1), ev(2)]) == 2
    assert writer.checkpoint_sync() == 2


async def test_writer_reconcile_applies_the_decision(db: MirrorDb) -> None:
    writer = MirrorWriter(db)
    decision = await writer.reconcile("2026-01-01T00:00:00.000Z", 3)
    assert decision.action is ReconcileAction.RECORD_INCARNATION
    assert db.incarnation() == "2026-01-01T00:00:00.000Z"
    await writer.ingest([ev(1), ev(2), ev(3)])

    decision = await writer.reconcile("2026-01-01T00:00:00.000Z", 5)
    assert decision.action is ReconcileAction.KEEP and db.event_count() == 3

    decision = await writer.reconcile("2026-02-02T00:00:00.000Z", 7)
    assert decision.action is ReconcileAction.DISCARD_AND_REBUILD
    # Carrying it out (archive or discard) is the caller's: nothing changed yet.
    assert db.event_count() == 3 and db.incarnation() == "2026-01-01T00:00:00.000Z"

    await writer.discard()
    decision = await writer.reconcile("2026-02-02T00:00:00.000Z", 7)
    assert decision.action is ReconcileAction.RECORD_INCARNATION
    assert db.event_count() == 0 and db.feed_count() == 0
    assert db.incarnation() == "2026-02-02T00:00:00.000Z"
    assert await writer.checkpoint() == 0  # memory forgot the old checkpoint too
    await writer.ingest([ev(1), ev(2)])
    assert db.event_count() == 2


async def test_writer_refuses_events_of_another_incarnation(db: MirrorDb) -> None:
    writer = MirrorWriter(db)
    await writer.reconcile("2026-01-01T00:00:00.000Z", 3)
    await writer.ingest([ev(1), ev(2)], incarnation="2026-01-01T00:00:00.000Z")
    with pytest.raises(IncarnationMismatch, match="2026-02-02"):
        await writer.ingest([ev(3), ev(4)], incarnation="2026-02-02T00:00:00.000Z")
    plan = await writer.plan([ev(3)], incarnation="2026-02-02T00:00:00.000Z")
    with pytest.raises(IncarnationMismatch):
        await writer.write(plan)
    # Nothing of either was written, and the writer goes on with the right incarnation.
    assert db.event_count() == 2 and await writer.checkpoint() == 2
    assert await writer.ingest([ev(3)], incarnation="2026-01-01T00:00:00.000Z") == 1


async def test_writer_discard_resets_processors(db: MirrorDb) -> None:
    writer = MirrorWriter(db)
    await writer.ingest([ev(1), ev(2)])
    await writer.discard()
    assert await writer.checkpoint() == 0
    await writer.ingest([ev(1)])
    assert db.event_count() == 1 and db.type_counts() == {"add": 1}
