"""Cap'n Web expression codec: round trips, exact frames from the protocol docs, bad forms."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire.codec import (
    UNDEFINED,
    BigInt,
    RemoteError,
    decode,
    decode_args,
    dumps,
    encode,
    encode_error,
    loads,
)
from wire.errors import ProtocolError


def wire_round_trip(value: Any) -> Any:
    return decode(orjson.loads(orjson.dumps(encode(value))))


def same(a: Any, b: Any) -> bool:
    """Equality that treats NaN as equal to itself and keeps float/int/BigInt apart."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


ms_datetimes = st.integers(min_value=-62_000_000_000_000, max_value=250_000_000_000_000).map(
    lambda ms: datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.just(UNDEFINED),
    ms_datetimes,
    st.binary(),
    st.integers().map(BigInt),
    st.builds(RemoteError, st.sampled_from(["Error", "TypeError", "RangeError"]), st.text()),
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_round_trip_through_json(value: Any) -> None:
    assert same(wire_round_trip(value), value)


@settings(max_examples=300, deadline=None)
@given(values)
def test_decoding_with_the_texts_array_bound_gives_the_same_value(value: Any) -> None:
    text = dumps(encode(value))
    assert same(decode(loads(text), arrays=text.count("[")), value)
    assert same(decode(loads(text), arrays=text.count("[") + 1), value)  # a loose bound


def test_an_array_bound_skips_the_walk_only_when_nothing_needs_rewriting() -> None:
    page = [[{"type": "a", "payload": {"n": 1}}, {"type": "b"}]]
    assert decode(page, arrays=2) is page[0]
    event = {"type": "a", "payload": {"text": "[x]"}}
    assert decode(event, arrays=0) is event
    dated = [[{"at": ["date", 0]}]]
    assert decode(dated, arrays=3) == [{"at": datetime(1970, 1, 1, tzinfo=UTC)}]


@settings(max_examples=100, deadline=None)
@given(st.lists(values, max_size=5))
def test_call_arguments_round_trip(args: list[Any]) -> None:
    encoded = [encode(a) for a in args]
    assert same(decode_args(orjson.loads(orjson.dumps(encoded))), args)


@settings(max_examples=100, deadline=None)
@given(values)
def test_encoding_never_emits_a_bare_array_that_could_be_misread(value: Any) -> None:
    # Every list on the wire is either an escape [[...]] or a known special form.
    def check(expr: Any) -> None:
        if isinstance(expr, list):
            if len(expr) == 1 and isinstance(expr[0], list):
                for x in expr[0]:
                    check(x)
            else:
                assert isinstance(expr[0], str)
                if expr[0] == "error" and len(expr) == 5:
                    for x in expr[4].values():
                        check(x)
        elif isinstance(expr, dict):
            for x in expr.values():
                check(x)

    check(encode(value))


def test_tuples_travel_as_arrays() -> None:
    assert encode((1, (2, 3))) == [[1, [[2, 3]]]]
    assert decode([[1, [[2, 3]]]]) == [1, [2, 3]]


# --------------------------------------------------------------------------- exact frames


def test_append_frames_from_server_protocol_8_4() -> None:
    arg = {"event": {"type": "test.x", "payload": {"tags": ["a", "b"]}}}
    push = ["push", ["pipeline", 0, ["append"], [encode(arg)]]]
    assert dumps(push) == (
        '["push",["pipeline",0,["append"],[{"event":{"type":"test.x",'
        '"payload":{"tags":[["a","b"]]}}}]]]'
    )
    resolve = loads(
        '["resolve",1,{"type":"test.x","payload":{"tags":[["a","b"]]},"offset":3,'
        '"createdAt":"2026-06-01T12:00:00.123Z"}]'
    )
    assert decode(resolve[2]) == {
        "type": "test.x",
        "payload": {"tags": ["a", "b"]},
        "offset": 3,
        "createdAt": "2026-06-01T12:00:00.123Z",
    }


def test_append_batch_frames_from_protocol_7() -> None:
    arg = {"events": [{"type": "x"}]}
    assert dumps(["push", ["pipeline", 0, ["appendBatch"], [encode(arg)]]]) == (
        '["push",["pipeline",0,["appendBatch"],[{"events":[[{"type":"x"}]]}]]]'
    )
    resolved = decode(loads('[[{"type":"x","offset":3,"createdAt":"..."}]]'))
    assert resolved == [{"type": "x", "offset": 3, "createdAt": "..."}]


def test_delivery_push_from_server_protocol_8_4() -> None:
    frame = (
        '["push",["pipeline",-1,[],[{"namespace":"default","path":"/e2e/x","events":'
        '[[{"type":"test.stream.capnweb-wire","payload":{"path":"/e2e/x"},"offset":3,'
        '"createdAt":"t"}]],"streamMaxOffset":3,"state":{"childPaths":[["/a"]]}}]]]'
    )
    seen: list[Any] = []

    class Hooks:
        def on_import(self, kind: str, id: int, path: Any, args: Any) -> Any:
            seen.append((kind, id, path))
            return decode_args(args)

        def on_export(self, id: int) -> Any:
            raise AssertionError

        def on_promise(self, id: int) -> Any:
            raise AssertionError

    (args,) = decode(loads(frame)[1], Hooks())
    assert seen == [("pipeline", -1, [])]
    assert args["events"][0]["type"] == "test.stream.capnweb-wire"
    assert args["state"]["childPaths"] == ["/a"]


def test_protocol_md_array_expression_example() -> None:
    expr = {"key": [["abc", ["date", 1757214689123], [[0]]]]}
    assert decode(expr) == {
        "key": ["abc", datetime(2025, 9, 7, 3, 11, 29, 123000, tzinfo=UTC), [0]],
    }


@pytest.mark.parametrize(
    ("value", "expr"),
    [
        (UNDEFINED, ["undefined"]),
        (math.inf, ["inf"]),
        (-math.inf, ["-inf"]),
        (datetime(2025, 6, 8, 0, 22, 50, 815000, tzinfo=UTC), ["date", 1749342170815]),
        (b"hi!!", ["bytes", "aGkhIQ"]),
        (BigInt(-(10**30)), ["bigint", "-" + "1" + "0" * 30]),
        (2**70, ["bigint", str(2**70)]),
        ([], [[]]),
        ([[]], [[[[]]]]),
        (RemoteError("TypeError", "bad"), ["error", "TypeError", "bad"]),
        (ValueError("nope"), ["error", "Error", "nope"]),
        (TypeError("t"), ["error", "TypeError", "t"]),
    ],
)
def test_special_forms(value: Any, expr: Any) -> None:
    assert encode(value) == expr


def test_nan_and_naive_dates() -> None:
    assert encode(math.nan) == ["nan"]
    assert math.isnan(decode(["nan"]))
    assert encode(datetime(1970, 1, 1, 0, 0, 1)) == ["date", 1000]


def test_decode_special_variants_sent_by_capnweb() -> None:
    assert decode(["bytes", "aGkhIQ==", "ArrayBuffer"]) == b"hi!!"
    assert decode(["date", None]) is None
    assert decode(["date", 1.5]) == datetime(1970, 1, 1, microsecond=1500, tzinfo=UTC)
    err = decode(["error", "RangeError", "m", None, {"code": 7, "list": [[1]]}])
    assert err == RemoteError("RangeError", "m", None, {"code": 7, "list": [1]})
    assert str(err) == "RangeError: m"
    assert decode(["error", "Error", "m", "stack"]).stack == "stack"


def test_error_props_are_encoded_with_a_null_stack() -> None:
    err = RemoteError("Error", "m", None, {"tags": ["x"], "when": UNDEFINED})
    assert encode_error(err) == [
        "error",
        "Error",
        "m",
        None,
        {"tags": [["x"]], "when": ["undefined"]},
    ]


def test_dict_without_special_values_is_sent_as_is() -> None:
    event = {"type": "x", "payload": {"n": 1, "s": "t"}, "offset": 3}
    assert encode(event) is event
    with_list = {"type": "x", "payload": {"tags": ["a"]}}
    encoded = encode(with_list)
    assert encoded == {"type": "x", "payload": {"tags": [["a"]]}}
    assert with_list == {"type": "x", "payload": {"tags": ["a"]}}  # input untouched


def test_a_fragment_is_sent_as_the_json_it_holds() -> None:
    value = {"events": [orjson.Fragment(b'{"type":"x","n":1}'), {"tags": ["a"]}]}
    assert dumps(encode(value)) == '{"events":[[{"type":"x","n":1},{"tags":[["a"]]}]]}'


def test_encode_rejects_unsupported_values() -> None:
    with pytest.raises(TypeError, match="cannot serialize value of type object"):
        encode(object())
    with pytest.raises(TypeError, match="by reference outside a session"):
        encode({"cb": lambda: None})
    with pytest.raises(TypeError, match="keys must be strings"):
        encode({1: "x"})
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(TypeError, match="nested too deeply"):
        encode(cyclic)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ([], "empty array"),
        (["nope"], "unknown special value"),
        ([1, 2], "unknown special value"),
        (["date", "x"], "date milliseconds must be a number"),
        (["date", 10**20], "date out of range"),
        (["bytes", "!!"], "invalid base64"),
        (["bytes", "aGk", "Strange"], "unknown bytes type marker"),
        (["bigint", "12a"], "invalid bigint"),
        (["bigint", "1" * 20000], "exceeds 16384 digits"),
        (["error", "Error"], "invalid error form"),
        (["error", "Error", "m", 5], "stack must be a string"),
        (["undefined", 1], "invalid undefined form"),
        (["inf", 1], "invalid number form"),
        (["export", 3], "id must be negative"),
        (["promise", "x"], "invalid promise form"),
        (["pipeline", 0, "append"], "property path must be an array"),
        (["import", 0], "reference form not allowed here"),
        (["export", -1], "reference form not allowed here"),
        (["remap", 0, [], [], []], "unsupported special value 'remap'"),
        ({"a": {"b": [["ok", ["what"]]]}}, "unknown special value"),
    ],
)
def test_invalid_forms_raise_protocol_errors(expr: Any, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode(expr)


def test_deeply_nested_input_is_a_protocol_error() -> None:
    deep: Any = 0
    for _ in range(5000):
        deep = [[deep]]
    with pytest.raises(ProtocolError, match="nested too deeply"):
        decode(deep)


def test_loads_reports_malformed_json() -> None:
    with pytest.raises(ProtocolError, match="malformed JSON"):
        loads('["push", ')


def test_large_event_page_decodes_to_plain_events() -> None:
    page = [
        {
            "type": "app.thing",
            "payload": {"i": i, "text": "x" * 120, "tags": ["a", "b"]},
            "offset": i + 3,
            "createdAt": "2026-06-01T12:00:00.123Z",
        }
        for i in range(1000)
    ]
    text = dumps(["resolve", 1, encode(page)])
    assert decode(loads(text)[2]) == page
