"""The tables `query` prints, as `python -m app.cli query` subprocesses into a pipe: cells printed
verbatim (no markup), NULL and blobs, numbers right-aligned, nothing cut, no trailing spaces."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mirror_support import REPO_ROOT
from search_support import write_mirror

ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def query(file: Path, sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "query", str(file), sql],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
        cwd=REPO_ROOT,
    )


def test_query_prints_cells_verbatim_and_numbers_right_aligned(tmp_path: Path) -> None:
    long_text = "x" * 400
    bodies = [
        {"type": "[bold]t[/bold] :smile:", "payload": {"n": 7}},
        {"type": "plain", "payload": {"n": 12345, "text": long_text}},
    ]
    write_mirror(tmp_path / "m.sqlite3", bodies).close()
    done = query(
        tmp_path / "m.sqlite3",
        "SELECT type, raw_jsonb->>'$.payload.n' AS n, raw_jsonb->>'$.payload.text' AS text, "
        "x'0102' AS blob "
        "FROM events ORDER BY offset",
    )
    assert done.returncode == 0, done.stderr
    header, rule, first, second, footer = done.stdout.splitlines()
    assert [part.strip() for part in header.split("|")] == ["type", "n", "text", "blob"]
    assert set(rule) <= {"-", "+"} and rule.count("+") == 3
    assert first.startswith("[bold]t[/bold] :smile: |")
    assert first.split("|")[1] == "     7 " and second.split("|")[1] == " 12345 "
    assert first.split("|")[2].strip() == "NULL"
    assert second.split("|")[2].strip() == long_text, "a cell is never cut into a pipe"
    assert first.split("|")[3].strip() == "<2 bytes>"
    assert footer == "(2 rows)"
    assert all(line == line.rstrip() for line in done.stdout.splitlines())
