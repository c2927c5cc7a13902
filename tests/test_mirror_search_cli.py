"""`streamdesk search` as a user runs it (`python -m app.cli search ...` subprocesses) on real
mirror files, and the one-line previews it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mirror_support import REPO_ROOT
from search_support import write_mirror

from mirror.preview import ELLIPSIS, preview_line
from mirror.preview_rows import preview_at, preview_window
from mirror.search.indexer import SearchIndexer

ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def search(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "search", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
        cwd=REPO_ROOT,
    )


@pytest.fixture
def mirror_file(tmp_path: Path) -> Path:
    bodies = [
        {
            "type": "shop/refund" if n % 10 == 0 else "shop/order",
            "payload": {"user": {"id": f"u{n % 4}"}, "text": f"Order {n}", "total": n},
            "metadata": {"latencyMs": n * 10},
        }
        for n in range(1, 101)
    ]
    db = write_mirror(tmp_path / "m.sqlite3", bodies)
    SearchIndexer(db).index_next(60)  # half indexed: the verb must still see everything
    db.close()
    return tmp_path / "m.sqlite3"


def test_text_hits_print_one_line_each_with_the_count(mirror_file: Path) -> None:
    result = search(str(mirror_file), "ORDER 5")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    offsets = [int(line.split("\t")[0]) for line in lines]
    assert offsets == [5, *range(50, 60)]
    _, kind, created, preview = lines[0].split("\t")
    assert (kind, created) == ("shop/order", "2026-06-01T12:00:00.000Z")
    assert preview.startswith('{"user":{"id":"u1"},"text":"Order 5","total":5}')
    assert "hits 1-11 of 11" in result.stderr


def test_where_type_limit_and_json(mirror_file: Path) -> None:
    result = search(
        str(mirror_file),
        "--where",
        'payload.user.id = "u2" and metadata.latencyMs > 300',
        "--type",
        "shop/refund",
        "--type",
        "shop/order",
        "--limit",
        "3",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["offset"] for e in events] == [34, 38, 42]
    assert events[0]["payload"] == {"user": {"id": "u2"}, "text": "Order 34", "total": 34}
    assert "hits 1-3 of 17" in result.stderr
    after = search(str(mirror_file), "--type", "shop/refund", "--after", "50", "--limit", "2")
    assert [int(line.split("\t")[0]) for line in after.stdout.splitlines()] == [60, 70]
    assert "hits 6-7 of 10" in after.stderr


def test_no_hits_is_not_an_error(mirror_file: Path) -> None:
    result = search(str(mirror_file), "zanzibar")
    assert (result.returncode, result.stdout.strip()) == (0, "no hits")


def test_a_bad_expression_exits_2_with_its_column(mirror_file: Path) -> None:
    result = search(str(mirror_file), "--where", "payload.total >")
    assert result.returncode == 2
    assert "expected a value after '>', found the end at column 16" in result.stderr
    assert result.stdout == ""


def test_an_unreadable_file_exits_1(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database" * 100)
    result = search(str(junk), "x")
    assert result.returncode == 1 and "streamdesk:" in result.stderr
    missing = search(str(tmp_path / "absent.sqlite3"), "x")
    assert missing.returncode == 1 and "no mirror file" in missing.stderr


def test_preview_line_cuts_and_adds_metadata_only_when_room() -> None:
    assert preview_line('{"a":1}', '{"m":2}', 40) == '{"a":1}  {"m":2}'
    assert preview_line('{"a":1}', '{"m":2}', 8) == '{"a":1}'
    assert preview_line('{"text":"abcdefghij"}', None, 10) == '{"text":"' + ELLIPSIS
    assert len(preview_line("x" * 500, None, 80)) == 80
    assert preview_line(None, '{"m":2}', 20) == '{"m":2}'
    assert preview_line(None, None, 20) == ""
    assert preview_line('{"a":1}', "{}", 40) == '{"a":1}'


def test_preview_rows_read_a_bounded_prefix(tmp_path: Path) -> None:
    big = {"type": "big", "payload": {"text": "y" * 100_000}, "metadata": {"m": 1}}
    small = {"type": "small", "payload": {"n": 1}, "metadata": {"m": 1}}
    db = write_mirror(tmp_path / "m.sqlite3", [small, big, small])
    window = preview_window(db.connection, 0, 10, width=30)
    assert [(r.offset, r.type) for r in window] == [(1, "small"), (2, "big"), (3, "small")]
    assert window[0].preview == '{"n":1}  {"m":1}'
    assert window[1].preview == '{"text":"' + "y" * 20 + ELLIPSIS
    assert [r.offset for r in preview_at(db.connection, [3, 1, 99], width=30)] == [1, 3]
    db.close()
