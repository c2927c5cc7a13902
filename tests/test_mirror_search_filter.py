"""The field filter language: parse trees, errors with their columns, the compiled SQL's
parameters, and injection attempts run against a real mirror."""

from __future__ import annotations

from pathlib import Path

import pytest
from search_support import write_mirror

from mirror.search.fields import field_names, path_from_json_tree
from mirror.search.filter_lang import (
    And,
    Compare,
    Exists,
    FieldPath,
    FilterError,
    Literal,
    Not,
    Or,
    parse_filter,
)
from mirror.search.filter_sql import compile_filter, json_path
from mirror.search.queries import SearchQuery, SearchReads


def path(*segments: str | int) -> FieldPath:
    return FieldPath(segments)


def test_precedence_not_then_and_then_or() -> None:
    node = parse_filter('NOT a = 1 and b.c != "x" OR exists d[2]."e f"')
    assert node == Or(
        (
            And((Not(Compare(path("a"), "=", 1)), Compare(path("b", "c"), "!=", "x"))),
            Exists(path("d", 2, "e f")),
        )
    )
    grouped = parse_filter("not (a = 1 or a = 2.5e1) and b ~ 'it\\'s'")
    assert grouped == And(
        (
            Not(Or((Compare(path("a"), "=", 1), Compare(path("a"), "=", 25.0)))),
            Compare(path("b"), "~", "it's"),
        )
    )


@pytest.mark.parametrize(
    ("literal", "value"),
    [("true", True), ("FALSE", False), ("null", None), ("-12", -12), ("0.5", 0.5), ('"s"', "s")],
)
def test_literals(literal: str, value: Literal) -> None:
    assert parse_filter(f"payload.x = {literal}") == Compare(path("payload", "x"), "=", value)


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("payload.user.id =   and x = 1", "expected a value after '=', found 'and'", 21),
        ("payload.user.id = ", "expected a value after '=', found the end", 19),
        ("metadata.latencyMs 500", "expected an operator (= != < <= > >= ~) after", 20),
        ("(type = 'x'", "expected ')' to close the '(' at column 1, found the end", 12),
        ("type = 'x')", "expected 'and', 'or' or the end, found ')'", 11),
        ("type = 'x' and", "expected a field name, found the end", 15),
        ('payload."unterminated = 1', "unterminated string starting", 9),
        ("payload.x # 1", "unexpected character '#'", 11),
        ("payload.[0] = 1", "expected a key after '.', found '['", 9),
        ("payload.items[-1] = 1", "expected an array index (0, 1, ...) after '['", 15),
        ("payload.items[0 = 1", "expected ']' after the index, found '='", 17),
        ("payload.x ~ 5", "'~' needs a string after it", 13),
        ("payload.x > null", "'>' compares numbers or strings, not null", 13),
        ("exists", "expected a field name after 'exists', found the end", 7),
        ("", "expected a condition", 1),
        ("1 = 1", "expected a field name, found '1'", 1),
        ('payload."a\\"b" = 1', "a key cannot contain '\"'", 9),
    ],
)
def test_errors_name_the_column(text: str, message: str, column: int) -> None:
    with pytest.raises(FilterError) as raised:
        parse_filter(text)
    assert message in raised.value.message
    assert raised.value.column == column
    assert str(raised.value).endswith(f"at column {column}")


def test_compiled_sql_holds_no_user_text() -> None:
    hostile = "x'); DROP TABLE events; --"
    compiled = compile_filter(
        parse_filter(f'payload."{hostile}" ~ "{hostile}" or type = "{hostile}"')
    )
    assert hostile not in compiled.sql and "DROP" not in compiled.sql
    assert json_path(path("payload", hostile)) in compiled.params
    assert hostile in compiled.params
    with pytest.raises(ValueError):
        compile_filter(parse_filter("a = 1"), alias="e; DROP TABLE events")


INJECTIONS = [
    'payload.text = "\' OR 1=1 --"',
    'payload."\') OR 1=1 --" = 1',
    'type = "x\\" OR \\"1\\"=\\"1"',
    'payload.text ~ "%"',
    'payload.text ~ "_"',
    'payload.text = "\'; DROP TABLE events; --"',
]


@pytest.mark.parametrize("expression", INJECTIONS)
def test_injection_attempts_find_nothing_and_change_nothing(
    tmp_path: Path, expression: str
) -> None:
    db = write_mirror(
        tmp_path / "m.sqlite3",
        [{"type": "note", "payload": {"text": f"plain {n}"}} for n in range(20)],
    )
    reads = SearchReads.open(db.path)
    try:
        query = SearchQuery.build(where=expression)
        assert reads.hits(query).offsets == []
        assert reads.count(query).n == 0
    finally:
        reads.close()
    assert db.event_count() == 20
    db.close()


def test_field_names_for_completion(tmp_path: Path) -> None:
    db = write_mirror(
        tmp_path / "m.sqlite3",
        [
            {"type": "a", "payload": {"user": {"id": "u1"}, "items": [{"sku": 1}]}},
            {"type": "b", "payload": {"weird key": 1}, "metadata": {"latencyMs": 3}},
        ],
    )
    names = field_names(db.connection)
    db.close()
    assert {
        "payload",
        "payload.user",
        "payload.user.id",
        "payload.items",
        'payload."weird key"',
        "metadata.latencyMs",
        "type",
        "offset",
        "createdAt",
    } <= set(names)
    assert not any("[" in name or "sku" in name for name in names)
    assert path_from_json_tree('$.payload."a.b".c') == 'payload."a.b".c'
    assert path_from_json_tree("$") is None
    # Each listed name parses back as a path.
    for name in names:
        assert isinstance(parse_filter(f"exists {name}"), Exists)
