"""Writing a console result to CSV or JSON Lines (blocking; the console runs it off the UI).

Both write ``<name>.partial`` and rename it when complete, so a failure leaves no half file.
BLOBs are written as hex text (CSV) or ``{"$hex": "..."}`` (JSONL)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FORMATS = {".csv": "CSV", ".jsonl": "JSON Lines"}


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$hex": bytes(value).hex()}
    return value


def export_result(target: Path, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """Write the rows as CSV (``.csv``) or JSON Lines (anything else); the rows written."""
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            if target.suffix.lower() == ".csv":
                writer = csv.writer(out)
                writer.writerow(columns)
                for row in rows:
                    writer.writerow(
                        bytes(v).hex() if isinstance(v, bytes | bytearray | memoryview) else v
                        for v in row
                    )
            else:
                for row in rows:
                    record = {c: _plain(v) for c, v in zip(columns, row, strict=True)}
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return len(rows)
