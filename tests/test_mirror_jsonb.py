"""``mirror.jsonb.JsonbEncoder``: JSON text to SQLite JSONB outside the write."""

from __future__ import annotations

import threading

import apsw
import orjson
import pytest

from mirror.jsonb import JsonbEncoder


def test_encodes_what_sqlite_reads_back_as_the_same_json() -> None:
    encoder = JsonbEncoder()
    value = {"type": "a", "payload": {"list": [1, "x", None], "text": "é \\u2028"}, "offset": 7}
    blob = encoder.encode(orjson.dumps(value))
    assert isinstance(blob, bytes)
    conn = apsw.Connection(":memory:")
    ((text, kind),) = conn.execute("SELECT json(?), json_type(?, '$.payload.list')", (blob, blob))
    assert orjson.loads(text) == value and kind == "array"
    encoder.close()


def test_malformed_json_is_an_error() -> None:
    encoder = JsonbEncoder()
    with pytest.raises(apsw.SQLError, match="malformed JSON"):
        encoder.encode(b'{"type": ')
    assert encoder.encode(b"[]") == JsonbEncoder().encode(b" [ ] ")  # and it goes on working
    encoder.close()


def test_threads_share_one_encoder() -> None:
    encoder = JsonbEncoder()
    expected = encoder.encode(orjson.dumps(list(range(1000))))
    results: list[bool] = []

    def work() -> None:
        results.extend(
            encoder.encode(orjson.dumps(list(range(1000)))) == expected for _ in range(50)
        )

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 200
    encoder.close()
