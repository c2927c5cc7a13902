"""The list models over real mirror files written by the mirror core: counts, lazily loaded
pages, type filters, expansion keyed by offset, and a feed group that grows in place."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot
from ui_support import qt_asyncio, run, wait_for

from mirror import mirror_files
from mirror.db import MirrorDb
from mirror.processors import MirrorWriter
from mirror.runtime import RuntimeRegistry
from ui.event_model import RawEventsModel
from ui.feed_model import FeedModel, feed_row_text
from ui.file_jobs import JobCancelled, JobProgress, partial_path, write_jsonl
from ui.ports import RuntimeLike

A, B, C = (f"events.iterate.com/debug/{name}" for name in "abc")


class Mirror:
    """A mirror file written through the mirror core's writer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = MirrorDb.open(path)
        self.writer = MirrorWriter(self.db)
        self.offset = 0

    def add(self, *types: str) -> None:
        events: list[dict[str, Any]] = []
        for event_type in types:
            self.offset += 1
            events.append(
                {
                    "offset": self.offset,
                    "type": event_type,
                    "payload": {"n": self.offset},
                    "createdAt": f"2026-06-01T12:00:00.{self.offset % 1000:03d}Z",
                }
            )
        self.writer.apply_sync(events)


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    written = Mirror(tmp_path / "stream.sqlite3")
    written.add("events.iterate.com/stream/created", "events.iterate.com/stream/woken")
    yield written
    written.db.close()


@pytest.fixture
def runtime(qtbot: QtBot, tmp_path: Path, mirror: Mirror) -> Iterator[RuntimeLike]:
    with qt_asyncio() as loop:
        registry = RuntimeRegistry(tmp_path / "data", loop=loop)
        opened = registry.open_file(mirror.path)
        opened.retain()
        yield opened
        opened.release()
        run(qtbot, registry.aclose())


def test_raw_model_loads_pages_filters_and_keeps_expansion(
    qtbot: QtBot, mirror: Mirror, runtime: RuntimeLike
) -> None:
    mirror.add(*[(A, B, C)[(i // 10) % 3] for i in range(998)])
    model = RawEventsModel(runtime)
    wait_for(qtbot, lambda: model.rowCount() == 1000)
    assert model.event_at(999) is None  # asked for, loading
    wait_for(qtbot, lambda: model.event_at(999) is not None)
    last = model.event_at(999)
    assert last is not None and last.offset == 1000 and last.local_index == 999
    assert model.loaded_row_count() == 200  # one page, not the whole mirror
    assert model.data(model.index(999, 0)) == "1000"

    model.toggle_expanded(999)
    wait_for(qtbot, lambda: model.pretty_for_row(999) is not None)
    pretty = model.pretty_for_row(999)
    assert pretty is not None and json.loads(pretty.text)["offset"] == 1000

    model.set_types([last.type])
    expected = model.type_counts[last.type]
    wait_for(qtbot, lambda: model.rowCount() == expected and model.filtered == expected)
    tail = expected - 1
    wait_for(qtbot, lambda: model.event_at(tail) is not None)
    filtered_last = model.event_at(tail)
    assert filtered_last is not None and filtered_last.offset == 1000
    assert model.is_row_expanded(tail)  # the same event, at another row
    model.set_types(None)
    wait_for(qtbot, lambda: model.rowCount() == 1000 and model.event_at(999) is not None)
    assert model.is_row_expanded(999) and not model.is_row_expanded(998)


def test_raw_model_grows_and_refetches_its_partial_last_page(
    qtbot: QtBot, mirror: Mirror, runtime: RuntimeLike
) -> None:
    mirror.add(A, A, A)
    model = RawEventsModel(runtime)
    wait_for(qtbot, lambda: model.rowCount() == 5 and model.event_at(4) is not None)
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _parent, first, last: inserted.append((first, last)))
    mirror.add(B, C)
    model.refresh()
    wait_for(qtbot, lambda: model.rowCount() == 7)
    assert inserted == [(5, 6)]
    assert model.event_at(4) is not None  # the old rows stay while the page refetches
    wait_for(qtbot, lambda: model.event_at(6) is not None)
    assert [model.event_at(i).type for i in (4, 5, 6)] == [A, B, C]  # type: ignore[union-attr]
    assert model.total == 7 and model.type_counts[B] == 1


def test_feed_model_shows_a_growing_group_in_place(
    qtbot: QtBot, mirror: Mirror, runtime: RuntimeLike
) -> None:
    mirror.add(A, A, A)
    model = FeedModel(runtime)
    wait_for(qtbot, lambda: model.count == 3 and model.item_at(2) is not None)
    group = model.item_at(2)
    assert group is not None and (group.component, group.event_count) == ("group", 3)
    assert feed_row_text(group) == f"3–5  {A}  3 events"
    created = model.item_at(0)
    assert created is not None and feed_row_text(created) == "Stream created #1"
    model.toggle_expanded(2)
    wait_for(qtbot, lambda: model.pretty_for_row(2) is not None)
    mirror.add(A, A)
    model.refresh()
    wait_for(qtbot, lambda: (model.item_at(2) or group).event_count == 5)
    assert model.count == 3
    wait_for(qtbot, lambda: '"offset": 7' in pretty_text(model, 2))
    mirror.add(B)
    model.refresh()
    wait_for(qtbot, lambda: model.count == 4 and model.item_at(3) is not None)
    new_group = model.item_at(3)
    assert new_group is not None and new_group.event_type == B and new_group.first_offset == 8


def pretty_text(model: FeedModel, row: int) -> str:
    pretty = model.pretty_for_row(row)
    return "" if pretty is None else pretty.text


class CancelAfter(JobProgress):
    """A user who presses Cancel once `n` events are written."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self._n = n

    def advance(self) -> None:
        super().advance()
        if self.done == self._n:
            self.cancel()


def test_export_writes_every_event_or_leaves_nothing(
    tmp_path: Path, mirror: Mirror, runtime: RuntimeLike
) -> None:
    mirror.add(*[(A, B)[i % 2] for i in range(1500)])
    target = tmp_path / "all.jsonl"
    progress = JobProgress()
    assert write_jsonl(runtime.reader, None, target, progress) == 1502
    assert progress.total == progress.done == 1502
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["offset"] for line in lines] == list(range(1, 1503))
    only_b = tmp_path / "b.jsonl"
    assert write_jsonl(runtime.reader, [B], only_b, JobProgress()) == 750
    assert {json.loads(line)["type"] for line in only_b.read_text().splitlines()} == {B}

    cancelled = tmp_path / "cancelled.jsonl"
    with pytest.raises(JobCancelled):
        write_jsonl(runtime.reader, None, cancelled, CancelAfter(1100))  # past the first page
    assert not cancelled.exists() and not partial_path(cancelled).exists()
    with pytest.raises(JobCancelled):
        write_jsonl(runtime.reader, None, target, CancelAfter(10))
    assert len(target.read_text(encoding="utf-8").splitlines()) == 1502  # left as it was
    assert not partial_path(target).exists()


def test_save_copy_reports_its_progress_and_stops_on_cancel(
    qtbot: QtBot,
    tmp_path: Path,
    mirror: Mirror,
    runtime: RuntimeLike,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mirror.add(*[(A, B)[i % 2] for i in range(1500)])
    monkeypatch.setattr(mirror_files, "COPY_STEP_PAGES", 4)
    copy = tmp_path / "copy.sqlite3"
    progress = JobProgress()
    run(qtbot, runtime.save_copy(copy, progress.update))
    assert progress.total == progress.done == copy.stat().st_size

    cancelled = tmp_path / "cancelled.sqlite3"
    stopping = JobProgress()

    def cancel_after_first_step(done: int, total: int) -> None:
        stopping.update(done, total)
        stopping.cancel()

    with pytest.raises(JobCancelled):
        run(qtbot, runtime.save_copy(cancelled, cancel_after_first_step))
    assert 0 < stopping.done < (stopping.total or 0)
    assert sorted(p.name for p in tmp_path.iterdir() if "cancelled" in p.name) == []
