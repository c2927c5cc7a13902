"""``streamdesk mirrors``: every local mirror with its archived incarnations (headless verb).

``add_mirrors_command(subparsers)`` registers ``mirrors [--data-dir DIR] [--json]``: one row per
mirror (server, namespace, path, events, incarnation, file) and one per archive under it
(``archived_at``); with ``--json`` one JSON object per mirror, its archives nested. Exit 0, also
when there is none ("no local mirrors").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from mirror.mirror_files import list_mirrors
from mirror.paths import default_data_dir
from mirror.runtime_status import MirrorInfo
from mirror.table import format_table, terminal_width

EXIT_OK = 0


def add_mirrors_command(subparsers: argparse._SubParsersAction[Any]) -> None:
    mirrors = subparsers.add_parser(
        "mirrors",
        help="list the local mirrors and their archives",
        description="List every local mirror, with the archives a reset left behind.",
    )
    mirrors.add_argument("--data-dir", default=argparse.SUPPRESS, help="Streamdesk data directory")
    mirrors.add_argument("--json", action="store_true", help="print one JSON object per mirror")
    mirrors.set_defaults(run=mirrors_command)


def mirrors_command(args: argparse.Namespace) -> int:
    data_dir = Path(getattr(args, "data_dir", None) or default_data_dir()).expanduser()
    found = list_mirrors(data_dir)
    try:
        if args.json:
            for info in found:
                print(orjson.dumps(_record(info)).decode())
        elif not found:
            print(f"no local mirrors under {data_dir}", file=sys.stderr)
        else:
            rows = [row for info in found for row in _rows(info)]
            columns = ["server", "namespace", "path", "events", "incarnation", "file"]
            print(format_table(columns, rows, width=terminal_width(sys.stdout)))
    except BrokenPipeError:
        pass
    return EXIT_OK


def _rows(info: MirrorInfo) -> list[list[object]]:
    own = "archive" if info.archived_at is not None else (info.server_url or "?")
    rows: list[list[object]] = [
        [own, info.namespace, info.path, info.event_count, info.incarnation or "", str(info.file)]
    ]
    for archive in reversed(info.archives):
        rows.append(
            ["  archive", "", "", archive.event_count, archive.incarnation or "", str(archive.file)]
        )
    return rows


def _record(info: MirrorInfo) -> dict[str, Any]:
    return {
        "server_url": info.server_url,
        "namespace": info.namespace,
        "path": info.path,
        "events": info.event_count,
        "incarnation": info.incarnation,
        "file": str(info.file),
        "archived_at": info.archived_at,
        "archives": [_record(archive) for archive in info.archives],
    }
