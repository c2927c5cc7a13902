"""The pure parts of search, filters, jumps and big events: phrases, times, wrapping, hit
spans, the word a completion replaces, the line a feed landing scrolls to."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from datetime import UTC, datetime

import pytest

from mirror.event_bounded import BoundedEvent, Cut
from ui.bounded_json import bounded_pretty
from ui.filter_bar import word_before
from ui.find_labels import byte_size, hit_text, index_progress_text
from ui.hit_paint import hit_spans
from ui.json_text import TokenKind, prepare_pretty_json, tokenize_line, wrap_line
from ui.landing import hit_line
from ui.time_text import (
    TimeInputError,
    parse_jump_input,
    shown_time,
    stored_spelling,
    time_tooltip,
)


def test_phrases() -> None:
    assert byte_size(812) == "812 B"
    assert byte_size(64 * 1024) == "64 KB"
    assert byte_size(int(2.4 * 1024 * 1024)) == "2.4 MB"
    assert hit_text(3, 12) == "hit 3 of 12"
    assert hit_text(None, 0) == "no hits"
    assert hit_text(1, None) == "hit 1 of …"
    assert index_progress_text(640_000, 1_000_000) == "index: 640k of 1M, the rest scanned"
    assert index_progress_text(0, 10) == "not indexed yet: scanning"
    assert index_progress_text(10, 10) is None


def test_times_shown_and_typed() -> None:
    stored = "2026-06-01T14:03:07.125Z"
    assert shown_time(stored, True) == "2026-06-01 14:03:07.125"
    assert shown_time("not a time", True) == "not a time"
    assert time_tooltip(stored, True).startswith(stored + " (UTC)\n")
    reference = datetime(2026, 6, 1, 20, 0, tzinfo=UTC)
    assert parse_jump_input("1,234", utc=True, reference=reference) == 1234
    assert parse_jump_input("#7", utc=True, reference=reference) == 7
    moment = parse_jump_input("14:03", utc=True, reference=reference)
    assert isinstance(moment, datetime)
    assert stored_spelling(moment) == "2026-06-01T14:03:00.000Z"
    moment = parse_jump_input("14:03:07.5", utc=True, reference=reference)
    assert isinstance(moment, datetime) and stored_spelling(moment) == "2026-06-01T14:03:07.500Z"
    iso = parse_jump_input("2026-05-30T01:02:03+02:00", utc=True, reference=reference)
    assert isinstance(iso, datetime) and stored_spelling(iso) == "2026-05-29T23:02:03.000Z"
    with pytest.raises(TimeInputError, match="not a time of day"):
        parse_jump_input("25:00", utc=True, reference=reference)
    with pytest.raises(TimeInputError, match="expected HH:MM"):
        parse_jump_input("soon", utc=True, reference=reference)


def test_long_lines_wrap_with_their_tokens() -> None:
    line = '  "text": "' + "x" * 400 + '"'
    pieces = wrap_line(line, tokenize_line(line), width=160)
    assert [len(text) for text, _ in pieces] == [160, 160, 104]
    first_tokens = pieces[0][1]
    assert first_tokens[0].kind is TokenKind.KEY and first_tokens[0].start == 2
    assert "".join(text.strip() for text, _ in pieces) == line.strip()
    for text, tokens in pieces[1:]:
        assert text.startswith(" " * 6)
        assert all(t.kind is TokenKind.STRING for t in tokens)
        assert tokens[0].start == 6 and tokens[0].start + tokens[0].length <= len(text)
    pretty = prepare_pretty_json('{"text": "' + "y" * 1000 + '"}')
    assert max(len(text) for text in pretty.lines) <= 160 and len(pretty.lines) == 9


def test_bounded_pretty_notes_the_cuts() -> None:
    event = BoundedEvent(
        size=3 * 1024 * 1024,
        text=None,
        value={"payload": {"text": "abc…"}},
        cuts=(Cut("$.payload.text", 3 * 1024 * 1024, 65536),),
    )
    pretty = bounded_pretty(event)
    assert pretty.lines[0].startswith("3.0 MB event, shown in part.")
    assert pretty.lines[1] == "$.payload.text: 3.0 MB, showing the first 64 KB"
    assert pretty.tokens[0] == () and '"text": "abc…"' in pretty.text


def test_hit_spans_words_and_feed_hit_lines() -> None:
    assert hit_spans("A Refund, a REFUND", "refund") == [(2, 8), (12, 18)]
    assert hit_spans("anything", "") == []
    assert word_before('payload.us = "x"', 10) == (0, "payload.us")
    assert word_before('type = "a" and meta', 19) == (15, "meta")
    text = (
        '{"eventType": "t", "events": [{"offset": 1, "payload": {"a": "refund"}}, '
        '{"payload": {"b": "refund"}, "offset": 2}]}'
    )
    pretty = prepare_pretty_json(text)
    second = hit_line(pretty, 2, "refund")
    assert second is not None and '"b": "refund"' in pretty.lines[second]
    first = hit_line(pretty, 1, "")
    assert first is not None and pretty.lines[first].strip() == '"offset": 1,'
    assert hit_line(pretty, 3, "refund") is None
