"""The ``search`` verb: ``streamdesk search MIRROR_FILE [TEXT] [--where EXPR] [--type T ...]
[--json] [--limit N] [--after N]``.

Prints the first hits in offset order: one line each (offset, type, created_at, a one-line
preview), or with ``--json`` each hit's whole event as a JSON line; then, on stderr, "hits 1-20
of 345" (or "no hits" on stdout). TEXT is a substring (ASCII-case-insensitive) of the event's
type, payload and metadata as compact JSON; ``--where`` a field filter
(``mirror.search.filter_lang``). The file is opened read-only: an index the runtime has built
answers what it covers, the rest is scanned.

Exit codes: 0 with hits or none, 1 the file cannot be read, 2 a bad expression (the message
names its column) or a bad option.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import apsw

from mirror.preview_rows import preview_at
from mirror.search.filter_lang import FilterError
from mirror.search.queries import SearchQuery, SearchReads
from mirror.search.scan_pool import scan_threads

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_PREVIEW_WIDTH = 100


def add_search_command(subparsers: argparse._SubParsersAction[Any]) -> None:
    search = subparsers.add_parser(
        "search",
        help="find events in a mirror file by text and field filters",
        description="Substring search over a mirror file, with optional field filters.",
    )
    search.add_argument("mirror_file", metavar="MIRROR_FILE", type=Path)
    search.add_argument("text", metavar="TEXT", nargs="?", default="")
    search.add_argument(
        "--where", metavar="EXPR", default=None, help="e.g. 'payload.user.id = \"u1\"'"
    )
    search.add_argument(
        "--type", dest="types", action="append", metavar="T", help="only this type (repeatable)"
    )
    search.add_argument("--json", action="store_true", help="print each hit's event as JSON")
    search.add_argument("--limit", type=int, default=50, help="hits to print (default 50)")
    search.add_argument("--after", type=int, default=0, metavar="N", help="hits after offset N")
    search.set_defaults(run=search_command)


def _fail(message: str, code: int) -> int:
    print(f"streamdesk: {message}", file=sys.stderr)
    return code


def search_command(args: argparse.Namespace) -> int:
    if args.limit < 1:
        return _fail("--limit must be at least 1", EXIT_USAGE)
    try:
        query = SearchQuery.build(args.text, args.where, args.types)
    except FilterError as error:
        return _fail(f"bad --where expression: {error}", EXIT_USAGE)
    file: Path = args.mirror_file.expanduser()
    if not file.is_file():
        return _fail(f"no mirror file at {file}", EXIT_FAILED)
    try:
        reads = SearchReads.open(file, scan_threads())
    except apsw.Error as error:
        return _fail(f"cannot open {file}: {error}", EXIT_FAILED)
    try:
        return _print_hits(reads, query, args)
    except apsw.Error as error:
        return _fail(f"cannot read {file}: {error}", EXIT_FAILED)
    finally:
        reads.close()


def _collect(reads: SearchReads, query: SearchQuery, after: int, limit: int) -> list[int]:
    """Up to ``limit`` hits, following bounded pages to the end of the mirror if need be."""
    offsets: list[int] = []
    while len(offsets) < limit:
        page = reads.hits(query, after, limit - len(offsets))
        offsets.extend(page.offsets)
        if page.exhausted:
            break
        after = page.next_after
    return offsets


def _print_hits(reads: SearchReads, query: SearchQuery, args: argparse.Namespace) -> int:
    offsets = _collect(reads, query, args.after, args.limit)
    if not offsets:
        print("no hits")
        return EXIT_OK
    try:
        if args.json:
            for line in reads.events_json(offsets):
                print(line)
        else:
            for row in reads.read(lambda conn: preview_at(conn, offsets, _PREVIEW_WIDTH)):
                print(f"{row.offset}\t{row.type}\t{row.created_at}\t{row.preview}")
    except BrokenPipeError:
        return EXIT_OK
    counted = reads.count(query)
    first = reads.count(query, through=args.after).n + 1
    print(f"hits {first}-{first + len(offsets) - 1} of {counted.n}", file=sys.stderr)
    return EXIT_OK
