"""Mirror files written through the mirror core's writer, with events as a test wants them
(payload, metadata, createdAt), opened offline by the real runtime for the view tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pytestqt.qtbot import QtBot
from ui_support import qt_asyncio, run

from mirror.db import MirrorDb
from mirror.processors import MirrorWriter
from mirror.runtime import RuntimeRegistry
from ui.ports import RuntimeLike


class WrittenMirror:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = MirrorDb.open(path)
        self.writer = MirrorWriter(self.db)
        self.offset = 0

    def add(self, *events: dict[str, Any]) -> None:
        """Append events (``type`` required; ``createdAt`` defaults to one a second)."""
        rows: list[dict[str, Any]] = []
        for given in events:
            self.offset += 1
            row = {"offset": self.offset, "payload": {}, **given}
            row.setdefault(
                "createdAt",
                f"2026-06-01T12:{self.offset // 60 % 60:02d}:{self.offset % 60:02d}.000Z",
            )
            rows.append(row)
        self.writer.apply_sync(rows)

    def close(self) -> None:
        self.db.close()


@contextmanager
def offline_runtime(qtbot: QtBot, tmp_path: Path, mirror: WrittenMirror) -> Iterator[RuntimeLike]:
    with qt_asyncio() as loop:
        registry = RuntimeRegistry(tmp_path / "data", loop=loop)
        opened = registry.open_file(mirror.path)
        opened.retain()
        try:
            yield opened
        finally:
            opened.release()
            run(qtbot, registry.aclose())
