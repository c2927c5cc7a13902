"""Saving a copy of a mirror (``mirror.mirror_files.save_copy``) on real SQLite files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import apsw
import pytest

from mirror import mirror_files
from mirror.db import MirrorDb
from mirror.processors import MirrorWriter


def event(offset: int) -> dict[str, Any]:
    return {
        "offset": offset,
        "type": "test.files/row",
        "payload": {"text": "x" * 400},
        "streamPath": "/files",
        "createdAt": "2026-11-22T00:00:00.000Z",
    }


@pytest.fixture
def mirror(tmp_path: Path) -> tuple[MirrorDb, MirrorWriter]:
    db = MirrorDb.open(tmp_path / "live.sqlite3")
    writer = MirrorWriter(db)
    writer.apply_sync([event(n) for n in range(1, 2001)])
    return db, writer


def count_events(file: Path) -> int:
    conn = apsw.Connection(str(file), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        (count,) = conn.execute("SELECT count(*) FROM events").fetchall()[0]
        assert isinstance(count, int)
        return count
    finally:
        conn.close()


def test_a_copy_in_steps_is_the_snapshot_it_started_from_while_the_writer_commits(
    tmp_path: Path, mirror: tuple[MirrorDb, MirrorWriter], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, writer = mirror
    monkeypatch.setattr(mirror_files, "COPY_STEP_PAGES", 8)
    reports: list[tuple[int, int]] = []
    next_offset = 2001

    def committing_progress(done: int, total: int) -> None:
        nonlocal next_offset
        reports.append((done, total))
        writer.apply_sync([event(next_offset)])  # the live writer commits between steps
        next_offset += 1

    target = tmp_path / "copy.sqlite3"
    mirror_files.save_copy(db.path, target, committing_progress)

    assert len(reports) > 10
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)
    assert reports[-1][0] == reports[-1][1] == target.stat().st_size
    assert count_events(target) == 2000
    assert db.event_count() == 2000 + len(reports)
    assert sorted(p.name for p in tmp_path.iterdir() if "copy" in p.name) == ["copy.sqlite3"]


def test_a_copy_stopped_from_its_progress_callback_leaves_the_target_as_it_was(
    tmp_path: Path, mirror: tuple[MirrorDb, MirrorWriter], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, _ = mirror
    monkeypatch.setattr(mirror_files, "COPY_STEP_PAGES", 8)
    target = tmp_path / "copy.sqlite3"
    target.write_text("an older file the user keeps")

    class Stop(Exception):
        pass

    def stop_after_first_step(done: int, total: int) -> None:
        assert 0 < done < total
        raise Stop

    with pytest.raises(Stop):
        mirror_files.save_copy(db.path, target, stop_after_first_step)
    assert target.read_text() == "an older file the user keeps"
    assert sorted(p.name for p in tmp_path.iterdir() if "copy" in p.name) == ["copy.sqlite3"]
    assert db.event_count() == 2000
