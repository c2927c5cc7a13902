"""``JsonbEncoder``: JSON text to SQLite JSONB outside the writer's transaction.

Public API:

- ``JsonbEncoder()``: a private in-memory SQLite connection that runs ``jsonb(?)``. Thread-safe
  (one lock); the GIL is released while SQLite converts, so a batch can be converted in a worker
  thread while the writer thread writes the previous one.
  - ``encode(text: bytes) -> bytes``: the JSONB of UTF-8 JSON text (bound as text: SQLite reads
    a blob argument as JSONB). Malformed JSON raises ``apsw.SQLError``; ``mirror.db.encode_json``
    never produces it.
  - ``close()``.

The writer binds the result where it would bind JSON text (``jsonb_each(?)``, a ``data``
column), so SQLite skips parsing inside the write.
"""

from __future__ import annotations

import threading
from typing import cast

import apsw


class JsonbEncoder:
    def __init__(self) -> None:
        self._conn = apsw.Connection(":memory:")
        self._lock = threading.Lock()

    def encode(self, text: bytes) -> bytes:
        with self._lock:
            rows = self._conn.execute("SELECT jsonb(?)", (text.decode(),)).fetchall()
        return cast(bytes, rows[0][0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
