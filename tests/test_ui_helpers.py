"""The UI's pure decisions: tail pinning, JSON tokens, composer checks, labels, row windows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mirror.mirror_files import is_part_of_mirror
from ui.composer_input import (
    DEFAULT_COMPOSER_TEXT,
    IDEMPOTENCY_KEY_PREFIX,
    DraftKeys,
    check_composer_text,
)
from ui.json_text import (
    TokenKind,
    prepare_pretty_json,
    pretty_json_text,
    pretty_json_value,
    tokenize_line,
)
from ui.labels import (
    catchup_text,
    counted,
    filter_count_text,
    job_text,
    lifecycle_label,
    offset_range_label,
    scroll_to_bottom_label,
    server_label,
    type_option_label,
    window_title,
)
from ui.row_cache import RowWindows
from ui.stream_address import StreamPathError, last_segment, normalize_namespace, normalize_path
from ui.tail_pin import TailPin


def test_tail_pin_follows_until_user_input_then_counts_unread() -> None:
    pin = TailPin()
    assert pin.rows_added(5, at_end=False)  # pinned: scrolling corrections never release it
    pin.scrolled(at_end=False)
    assert pin.pinned
    pin.user_input()
    assert not pin.rows_added(2, at_end=False)
    assert not pin.rows_added(3, at_end=False)
    assert pin.unread == 5
    pin.scrolled(at_end=True)
    assert pin.unread == 0
    assert pin.rows_added(1, at_end=True)  # released but at the end: still follows
    assert not pin.pinned


def test_tail_pin_explicit_jumps() -> None:
    pin = TailPin()
    pin.jump_to_top()
    assert not pin.rows_added(1, at_end=False)
    assert pin.unread == 1
    pin.jump_to_end()
    assert pin.pinned and pin.unread == 0
    assert not pin.rows_added(0, at_end=False)
    pin.user_input()
    pin.rows_added(4, at_end=False)
    pin.reset()
    assert pin.pinned and pin.unread == 0


def test_tokenize_line_kinds() -> None:
    line = '  "key": "va\\"l", "n": -1.5e3, "b": true, "z": null, "a": [1, {}]'
    kinds = [(line[t.start : t.start + t.length], t.kind) for t in tokenize_line(line)]
    assert kinds[:4] == [
        ('"key"', TokenKind.KEY),
        (":", TokenKind.PUNCTUATION),
        ('"va\\"l"', TokenKind.STRING),
        (",", TokenKind.PUNCTUATION),
    ]
    assert ("-1.5e3", TokenKind.NUMBER) in kinds
    assert ("true", TokenKind.LITERAL) in kinds
    assert ("null", TokenKind.LITERAL) in kinds
    assert ('"a"', TokenKind.KEY) in kinds
    assert ("{", TokenKind.PUNCTUATION) in kinds


def test_tokenize_unterminated_string_runs_to_end_of_line() -> None:
    tokens = tokenize_line('{"type": "half')
    assert tokens[-1].kind is TokenKind.STRING
    assert tokens[-1].start + tokens[-1].length == len('{"type": "half')


def test_one_pretty_printer_keeps_non_ascii_and_writes_dates_as_text() -> None:
    # The copied text is the shown text: both come from here, neither escapes "é" or "✓".
    assert pretty_json_text('{"name":"café ✓"}') == '{\n  "name": "café ✓"\n}'
    when = datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert pretty_json_value({"at": when, "n": [1]}) == (
        '{\n  "at": "2026-06-01 12:00:00+00:00",\n  "n": [\n    1\n  ]\n}'
    )


def test_pretty_json_and_line_cap() -> None:
    assert pretty_json_text('{"a":[1,2]}') == '{\n  "a": [\n    1,\n    2\n  ]\n}'
    assert pretty_json_text("not json") == "not json"
    text = json.dumps(list(range(100)))
    pretty = prepare_pretty_json(text, max_lines=10)
    assert len(pretty.lines) == 11
    assert pretty.lines[-1].startswith("… 92 more lines")
    assert len(pretty.tokens) == len(pretty.lines)
    assert json.loads(pretty.text) == list(range(100))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ('{"type": ', "Invalid JSON at line 1"),
        ("[1]", "JSON object"),
        ('{"payload": {}}', '"type"'),
        ('{"type": "  "}', '"type"'),
    ],
)
def test_composer_rejects(text: str, fragment: str) -> None:
    verdict = check_composer_text(text)
    assert verdict.event is None
    assert verdict.error is not None and fragment in verdict.error


def test_composer_accepts_the_default_event() -> None:
    verdict = check_composer_text(DEFAULT_COMPOSER_TEXT)
    assert verdict.error is None
    assert verdict.event is not None
    assert verdict.event["type"] == "events.iterate.com/debug/manual-event"


def test_a_draft_keeps_its_idempotency_key_until_it_is_appended() -> None:
    keys = DraftKeys()
    event = {"type": "t", "payload": {"n": 1}}
    first = keys.stamp(event)
    assert first["idempotencyKey"].startswith(IDEMPOTENCY_KEY_PREFIX)
    assert "idempotencyKey" not in event  # the user's event is not changed
    retried = keys.stamp({"payload": {"n": 1}, "type": "t"})  # same draft, other key order
    assert retried["idempotencyKey"] == first["idempotencyKey"]
    edited = keys.stamp({"type": "t", "payload": {"n": 2}})
    assert edited["idempotencyKey"] != first["idempotencyKey"]
    keys.appended()
    again = keys.stamp({"type": "t", "payload": {"n": 2}})
    assert again["idempotencyKey"] not in (first["idempotencyKey"], edited["idempotencyKey"])
    own = {"type": "t", "idempotencyKey": "mine"}
    assert keys.stamp(own) == own


def test_save_as_refuses_the_live_mirror_and_its_side_files(tmp_path: Path) -> None:
    mirror = tmp_path / "stream.sqlite3"
    mirror.write_bytes(b"")
    assert is_part_of_mirror(mirror, mirror)
    assert is_part_of_mirror(tmp_path / "stream.sqlite3-wal", mirror)
    assert is_part_of_mirror(tmp_path / "." / "stream.sqlite3", mirror)
    assert not is_part_of_mirror(tmp_path / "copy.sqlite3", mirror)


def test_labels() -> None:
    assert counted(1, "event") == "1 event"
    assert counted(12345, "event") == "12,345 events"
    assert filter_count_text(6, None) == "6 total events"
    assert filter_count_text(6, 2) == "2 filtered events / 6 total events"
    assert filter_count_text(1, 1) == "1 filtered event / 1 total event"
    assert type_option_label("a/b", 1500) == "a/b (1,500)"
    assert offset_range_label(4, 4) == "4"
    assert offset_range_label(3, 9) == "3–9"
    assert lifecycle_label("stream.created", 1) == "Stream created #1"
    assert lifecycle_label("stream.woken", 2) == "Stream woke up #2"
    assert scroll_to_bottom_label(0, "event") == "Scroll to bottom"
    assert scroll_to_bottom_label(1, "event") == "Scroll to bottom, 1 new event"
    assert scroll_to_bottom_label(5000, "event") == "Scroll to bottom, 5,000 new events"
    assert catchup_text(10, 1000, 52345.4) == "Catching up 10 / 1,000 events · 52,345 ev/s"
    assert server_label("http://127.0.0.1:9/", embedded_url="http://x") == "127.0.0.1:9"
    assert server_label("http://x", embedded_url="http://x") == "embedded"
    assert server_label(None, embedded_url=None) == "offline"
    assert window_title("/a", "default", "embedded") == "/a · embedded — Streamdesk"
    assert window_title("/a", "ns", "h:1") == "ns:/a · h:1 — Streamdesk"
    assert (
        job_text("Exporting JSONL", 1234, 5000, "event") == "Exporting JSONL: 1,234 / 5,000 events"
    )
    assert job_text("Exporting JSONL", 7, None, "event") == "Exporting JSONL: 7 events"
    assert job_text("Exporting JSONL", 9, 8, "event") == "Exporting JSONL: 9 / 9 events"
    assert job_text("Saving mirror as a.db", 0, None, None) == "Saving mirror as a.db…"
    assert job_text("Saving mirror as a.db", 3, 75, "MB") == "Saving mirror as a.db: 3 / 75 MB"


def test_stream_address() -> None:
    assert normalize_path("  ") == "/"
    assert normalize_path(" a/b ") == "/a/b"
    assert normalize_path("/x") == "/x"
    with pytest.raises(StreamPathError):
        normalize_path("/a:b")
    assert normalize_namespace(" ") == "default"
    assert normalize_namespace(" ns ") == "ns"
    assert last_segment("/") == "/"
    assert last_segment("/a/bc") == "bc"


def test_row_windows_fetch_cycle() -> None:
    windows: RowWindows[int] = RowWindows(page_size=10, max_pages=2)
    assert windows.row(15) is None
    assert windows.row(3) is None
    assert windows.take_wanted() == [0, 1]  # most recently wanted first
    assert windows.take_wanted() == []  # pending pages are not asked twice
    assert windows.store(1, windows.generation, list(range(10, 16))) == range(10, 16)
    assert windows.row(15) == 15
    assert windows.row(16) is None  # beyond a partial page: wanted again
    assert windows.take_wanted() == [1]
    windows.store(1, windows.generation, list(range(10, 20)))
    windows.store(0, windows.generation, list(range(10)))
    windows.row(25)
    assert windows.take_wanted() == [2]
    windows.store(2, windows.generation, list(range(20, 30)))
    assert windows.cached(15) is None  # page 0 was stored after page 1: page 1 was evicted
    assert windows.cached(5) == 5
    assert windows.loaded_rows() == 20


def test_row_windows_stale_pages_keep_serving_and_old_fetches_are_dropped() -> None:
    windows: RowWindows[str] = RowWindows(page_size=4)
    windows.row(0)
    (page,) = windows.take_wanted()
    windows.store(page, windows.generation, ["a", "b"])
    windows.mark_stale_from(2)
    assert windows.row(1) == "b"  # stale rows still shown while the refetch runs
    assert windows.take_wanted() == [0]
    windows.mark_stale_from(2)  # changed again while the refetch was in flight
    windows.store(0, windows.generation, ["a", "b", "c"])
    assert windows.row(2) == "c"
    assert windows.take_wanted() == [0]  # so it is fetched once more
    old = windows.generation
    windows.clear()
    assert windows.store(0, old, ["x"]) is None
    assert windows.cached(0) is None
