"""One apply path: the mirror writer runs each processor's ``StreamProcessor`` steps (stage,
plan, write, advance), so ``consumes`` and ``validate_event`` hold on the production path."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import apsw
import pytest

from mirror.db import MirrorDb
from mirror.feed_planner import FeedState
from mirror.processor import StoredState, StreamProcessor
from mirror.processors import EventFeedProcessor, MirrorWriter
from mirror.processors.base import MirrorProcessor
from mirror.schema import EVENT_FEED_SLUG
from mirror.types import Event

CREATED_AT = "2026-06-01T12:00:00.000Z"
PICKS_TABLE = "CREATE TABLE picks (event_offset INTEGER PRIMARY KEY, nth INTEGER NOT NULL)"


def ev(offset: int, event_type: str = "a") -> dict[str, Any]:
    return {"type": event_type, "payload": {}, "offset": offset, "createdAt": CREATED_AT}


class StrictFeed(EventFeedProcessor):
    """The feed processor, refusing events of type ``bad``."""

    def validate_event(self, event: Event) -> None:
        if event["type"] == "bad":
            raise ValueError(f"bad event at offset {event['offset']}")


class Picks(MirrorProcessor[dict[str, int]]):
    """Records the ``pick`` events only: one ``picks`` row each, numbered in its state."""

    slug = "picks"
    consumes: ClassVar[frozenset[str] | None] = frozenset({"pick"})

    def __init__(self, db: MirrorDb, subscription_key: str = "") -> None:
        super().__init__(db, subscription_key)
        self.planned: list[list[int]] = []

    def initial_state(self) -> dict[str, int]:
        return {"picked": 0}

    def plan_rows(
        self, events: Sequence[Event], entry_state: dict[str, int]
    ) -> tuple[list[tuple[int, int]], dict[str, int]]:
        self.planned.append([event["offset"] for event in events])
        first = entry_state["picked"]
        rows = [(event["offset"], first + n + 1) for n, event in enumerate(events)]
        return rows, {"picked": first + len(rows)}

    def write_rows(self, conn: apsw.Connection, rows: list[tuple[int, int]]) -> None:
        conn.executemany("INSERT INTO picks (event_offset, nth) VALUES (?, ?)", rows)


class StrictWriter(MirrorWriter):
    """A mirror writer whose feed processor validates, with a ``Picks`` processor last."""

    def __init__(self, db: MirrorDb, subscription_key: str = "") -> None:
        super().__init__(db, subscription_key)
        self.feed = StrictFeed(db, subscription_key)
        self.picks = Picks(db, subscription_key)
        self.processors = (self.raw, self.feed, self.picks)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "m.sqlite3"


@pytest.fixture
def db(path: Path) -> Iterator[MirrorDb]:
    mirror = MirrorDb.open(path)
    with mirror.transaction() as conn:
        conn.execute(PICKS_TABLE)
    yield mirror
    mirror.close()


def on_disk(path: Path) -> dict[str, Any]:
    """What the file holds, read through a connection of its own."""
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:

        def rows(sql: str) -> list[tuple[Any, ...]]:
            return conn.execute(sql).fetchall()

        return {
            "events": rows("SELECT local_index FROM events ORDER BY local_index"),
            "feed": rows("SELECT first_offset, last_offset FROM feed_items ORDER BY local_index"),
            "checkpoints": rows(
                "SELECT processor_slug, max_offset FROM processor_state ORDER BY processor_slug"
            ),
            "picks": rows("SELECT event_offset, nth FROM picks ORDER BY event_offset"),
        }
    finally:
        conn.close()


async def test_a_rejected_event_refuses_the_whole_write(db: MirrorDb, path: Path) -> None:
    writer = StrictWriter(db, "sub")
    assert await writer.ingest([ev(1), ev(2, "pick")]) == 2
    before = on_disk(path)
    assert before["checkpoints"] == [("event-feed", 2), ("picks", 2), ("raw-events", 2)]
    # The raw processor, staged first, accepts both events; the feed's validate_event refuses
    # offset 4: nothing of the batch is written, by any processor.
    with pytest.raises(ValueError, match="bad event at offset 4"):
        await writer.ingest([ev(3, "pick"), ev(4, "bad")])
    assert on_disk(path) == before
    assert await writer.checkpoint() == 2
    # The pipelined path (catch-up) stages the same way: the plan itself is refused.
    with pytest.raises(ValueError, match="bad event at offset 4"):
        await writer.plan([ev(3, "pick"), ev(4, "bad")])
    with pytest.raises(ValueError, match="bad event at offset 4"):
        writer.apply_sync([ev(3, "pick"), ev(4, "bad")])
    assert on_disk(path) == before
    # The writer goes on: a good redelivery applies.
    assert await writer.ingest([ev(3, "pick"), ev(4)]) == 2
    after = on_disk(path)
    assert after["events"] == [(0,), (1,), (2,), (3,)]
    assert after["picks"] == [(2, 1), (3, 2)]


async def test_writer_plans_only_consumed_events_and_advances_past_all(
    db: MirrorDb, path: Path
) -> None:
    writer = StrictWriter(db, "sub")
    assert await writer.ingest([ev(1), ev(2, "pick"), ev(3), ev(4, "pick"), ev(5)]) == 5
    assert writer.picks.planned == [[2, 4]]
    # A batch with no consumed event plans no row and still moves the checkpoint on.
    assert await writer.ingest([ev(6), ev(7)]) == 2
    assert writer.picks.planned == [[2, 4]]
    disk = on_disk(path)
    assert disk["picks"] == [(2, 1), (4, 2)]
    assert ("picks", 7) in disk["checkpoints"]
    assert db.read_checkpoint("picks", "sub") == StoredState(7, {"picked": 2})
    assert (writer.picks.checkpoint_offset, writer.picks.state) == (7, {"picked": 2})
    assert await writer.checkpoint() == 7


async def test_standalone_ingest_runs_the_same_steps(db: MirrorDb, path: Path) -> None:
    picks = Picks(db)
    await picks.ingest([ev(1), ev(2, "pick"), ev(3)])
    await picks.ingest([ev(3), ev(4), ev(5, "pick")])  # offset 3 is a replay
    assert picks.planned == [[2], [5]]
    assert on_disk(path)["picks"] == [(2, 1), (5, 2)]
    assert db.read_checkpoint("picks") == StoredState(5, {"picked": 2})
    feed = StrictFeed(db)
    with pytest.raises(ValueError, match="offset 2"):
        await feed.ingest([ev(1), ev(2, "bad")])
    assert db.read_checkpoint(EVENT_FEED_SLUG) is None and feed.checkpoint_offset == 0


def test_stage_starts_where_an_unwritten_plan_ends(db: MirrorDb) -> None:
    picks = Picks(db)
    picks.load_sync()
    staged = picks.stage([ev(1, "pick"), ev(2), ev(3, "pick")], 9, start=(1, {"picked": 1}))
    assert staged is not None
    assert [e["offset"] for e in staged.events] == [2, 3]
    assert [e["offset"] for e in staged.consumed] == [3]
    assert (staged.entry_offset, staged.entry_state) == (1, {"picked": 1})
    assert (staged.stream_max_offset, staged.checkpoint_offset) == (9, 3)
    planned = picks.plan(staged)
    assert (planned.rows, planned.exit_state) == ([(3, 2)], {"picked": 2})
    assert picks.stage([ev(1, "pick")], start=(1, {"picked": 1})) is None
    assert picks.checkpoint_offset == 0  # staging and planning leave the processor alone


def test_consuming_every_type_stages_the_fresh_list_itself(db: MirrorDb) -> None:
    feed = EventFeedProcessor(db)
    feed.load_sync()
    staged = feed.stage([ev(1), ev(2, "b")])
    assert staged is not None and staged.consumed is staged.events
    planned = feed.plan(staged)
    assert planned.reduced == [] and planned.entry_state == FeedState()
    assert db.read_checkpoint(EVENT_FEED_SLUG) is None  # staging and planning write nothing


class Counting(StreamProcessor[int]):
    consumes: ClassVar[frozenset[str] | None] = frozenset({"a"})

    def __init__(self) -> None:
        super().__init__()
        self.validated: list[int] = []

    def initial_state(self) -> int:
        return 0

    def reduce(self, state: int, event: Event) -> int:
        return state + 1


async def test_validate_event_runs_once_per_consumed_event_however_it_is_overridden() -> None:
    processor = Counting()

    def validate(event: Event) -> None:
        processor.validated.append(event["offset"])

    # Set on the instance, not the class: it runs all the same.
    processor.validate_event = validate  # type: ignore[method-assign]
    await processor.ingest([ev(1), ev(2, "b"), ev(3)])
    assert processor.validated == [1, 3]
    assert (await processor.snapshot()).state == 2
