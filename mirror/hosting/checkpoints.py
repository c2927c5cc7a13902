"""Durable processor checkpoints in one local SQLite file (stdlib sqlite3, WAL).

`CheckpointFile(path)` holds rows keyed by (namespace, path, slug, subscription key) with the
stream incarnation (`createdAt`) they were written under. `for_stream(namespace, path,
incarnation)` is the `StateStorage` a processor uses: a row of another incarnation (the stream
was reset) reads as no checkpoint, so the processor replays the new stream from the start.
Writes commit before they return (run in a worker thread), so a crash after a write never
re-applies that batch.
"""

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any, Final

import orjson

from mirror.processor import StoredState

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS processor_checkpoints (
    namespace TEXT NOT NULL,
    path TEXT NOT NULL,
    slug TEXT NOT NULL,
    subscription_key TEXT NOT NULL,
    incarnation TEXT NOT NULL,
    checkpoint_offset INTEGER NOT NULL,
    state_json BLOB NOT NULL,
    PRIMARY KEY (namespace, path, slug, subscription_key)
)
"""


class CheckpointFile:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process (only a power cut can lose a commit).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def for_stream(self, namespace: str, path: str, incarnation: str) -> "StreamCheckpoints":
        return StreamCheckpoints(self, namespace, path, incarnation)

    def read(
        self, namespace: str, path: str, slug: str, key: str, incarnation: str
    ) -> StoredState | None:
        with self._lock:
            row = self._db.execute(
                "SELECT incarnation, checkpoint_offset, state_json FROM processor_checkpoints"
                " WHERE namespace = ? AND path = ? AND slug = ? AND subscription_key = ?",
                (namespace, path, slug, key),
            ).fetchone()
        if row is None or row[0] != incarnation:
            return None
        return StoredState(int(row[1]), orjson.loads(row[2]))

    def write(
        self,
        namespace: str,
        path: str,
        slug: str,
        key: str,
        incarnation: str,
        state: Any,
        offset: int,
    ) -> None:
        data = orjson.dumps(state)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO processor_checkpoints VALUES (?, ?, ?, ?, ?, ?, ?)",
                (namespace, path, slug, key, incarnation, offset, data),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


class StreamCheckpoints:
    """`StateStorage` for the processors of one stream incarnation."""

    def __init__(self, file: CheckpointFile, namespace: str, path: str, incarnation: str) -> None:
        self._file = file
        self._namespace = namespace
        self._path = path
        self._incarnation = incarnation

    async def read_state(self, slug: str, subscription_key: str) -> StoredState | None:
        return await asyncio.to_thread(
            self._file.read, self._namespace, self._path, slug, subscription_key, self._incarnation
        )

    async def write_state(self, slug: str, subscription_key: str, state: Any, offset: int) -> None:
        await asyncio.to_thread(
            self._file.write,
            self._namespace,
            self._path,
            slug,
            subscription_key,
            self._incarnation,
            state,
            offset,
        )
