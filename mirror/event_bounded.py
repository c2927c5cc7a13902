"""Reading an event of any size for display: small events whole, big ones with every long
string cut to a prefix, so a 20 MB event costs a bounded amount of Python memory and time.

Public API:

- ``read_bounded_event(conn, offset, ...) -> BoundedEvent``: ``length(raw_jsonb)`` first (no
  body read); an event up to ``big`` bytes comes back as its JSON ``text``; a bigger one is
  walked with ``json_tree`` in SQLite, each string handed to Python as at most
  ``string_prefix`` characters (and at most ``max_nodes`` values), and comes back as ``value``
  with the ``cuts`` made.
- ``BoundedEvent(size, text, value, cuts, nodes_cut)``; ``Cut(path, size, shown)`` in
  characters (``size`` is the string's full length).
- ``read_bounded_feed_item(conn, local_index, ...) -> BoundedEvent``: a feed row the same way
  (a group's events each bounded), in the reference form ``{"eventType", "events": [...]}``.
- ``pretty_event_text(conn, offset)`` / ``pretty_feed_item_text(conn, local_index)``: the whole
  thing as indented JSON text, formatted by SQLite's ``json_pretty`` (Python's json would hold
  the GIL, and with it the UI thread, for the whole parse of a big event).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import apsw
import orjson

BIG_EVENT_BYTES = 256 * 1024
STRING_PREFIX = 64 * 1024
MAX_NODES = 20_000
# A group of big events shows at most this many of them (each bounded).
MAX_GROUP_EVENTS = 50

_TREE_SQL = (
    "SELECT t.id, t.parent, t.key, t.type, "
    "CASE WHEN t.type = 'text' THEN substr(t.atom, 1, ?) ELSE t.atom END, "
    "CASE WHEN t.type = 'text' THEN length(t.atom) END, t.fullkey "
    "FROM events AS e, json_tree(e.raw_jsonb) AS t WHERE e.local_index = ? LIMIT ?"
)


@dataclass(frozen=True, slots=True)
class Cut:
    path: str
    size: int
    shown: int


@dataclass(frozen=True, slots=True)
class BoundedEvent:
    size: int
    text: str | None
    value: Any = None
    cuts: tuple[Cut, ...] = ()
    nodes_cut: bool = False

    @property
    def bounded(self) -> bool:
        return self.text is None


def _leaf(kind: str, atom: object) -> object:
    if kind == "true":
        return True
    if kind == "false":
        return False
    if kind == "null":
        return None
    return atom


def _tree_value(
    conn: apsw.Connection, local_index: int, string_prefix: int, max_nodes: int
) -> tuple[object, list[Cut], bool]:
    rows = conn.execute(_TREE_SQL, (string_prefix, local_index, max_nodes + 1)).fetchall()
    nodes_cut = len(rows) > max_nodes
    containers: dict[int, dict[str, object] | list[object]] = {}
    cuts: list[Cut] = []
    root: object = None
    for node_id, parent, key, kind, atom, length, fullkey in rows[:max_nodes]:
        value: object
        if kind == "object":
            value = containers[cast(int, node_id)] = {}
        elif kind == "array":
            value = containers[cast(int, node_id)] = []
        else:
            value = _leaf(str(kind), atom)
            if kind == "text" and length is not None and cast(int, length) > string_prefix:
                cuts.append(Cut(str(fullkey), cast(int, length), string_prefix))
                value = f"{value}…"
        if parent is None:
            root = value
            continue
        container = containers.get(cast(int, parent))
        if isinstance(container, list):
            container.append(value)
        elif container is not None:
            container[str(key)] = value
    return root, cuts, nodes_cut


def read_bounded_event(
    conn: apsw.Connection,
    offset: int,
    *,
    big: int = BIG_EVENT_BYTES,
    string_prefix: int = STRING_PREFIX,
    max_nodes: int = MAX_NODES,
) -> BoundedEvent:
    local_index = offset - 1
    row = conn.execute(
        "SELECT length(raw_jsonb) FROM events WHERE local_index = ?", (local_index,)
    ).fetchone()
    if row is None:
        return BoundedEvent(0, "null")
    size = int(cast(int, row[0]))
    if size <= big:
        text = conn.execute(
            "SELECT json(raw_jsonb) FROM events WHERE local_index = ?", (local_index,)
        ).fetchone()
        return BoundedEvent(size, "null" if text is None else str(text[0]))
    value, cuts, nodes_cut = _tree_value(conn, local_index, string_prefix, max_nodes)
    return BoundedEvent(size, None, value, tuple(cuts), nodes_cut)


def read_bounded_feed_item(
    conn: apsw.Connection,
    local_index: int,
    *,
    big: int = BIG_EVENT_BYTES,
    string_prefix: int = STRING_PREFIX,
    max_nodes: int = MAX_NODES,
) -> BoundedEvent:
    row = conn.execute(
        "SELECT f.data ->> '$.eventType', f.first_offset, f.last_offset, "
        "(SELECT total(length(e.raw_jsonb)) FROM events AS e "
        " WHERE e.local_index BETWEEN f.first_offset - 1 AND f.last_offset - 1) "
        "FROM feed_items AS f WHERE f.local_index = ? AND f.data ->> '$.events' IS NULL",
        (local_index,),
    ).fetchone()
    if row is None or int(cast(float, row[3])) <= big:
        return BoundedEvent(0, _feed_item_text(conn, local_index))
    event_type, first, last, size = row
    first_offset, last_offset = int(cast(int, first)), int(cast(int, last))
    shown_last = min(last_offset, first_offset + MAX_GROUP_EVENTS - 1)
    events: list[object] = []
    cuts: list[Cut] = []
    nodes_cut = shown_last < last_offset
    for offset in range(first_offset, shown_last + 1):
        one = read_bounded_event(
            conn, offset, big=big, string_prefix=string_prefix, max_nodes=max_nodes
        )
        events.append(orjson.loads(one.text) if one.text is not None else one.value)
        cuts.extend(one.cuts)
        nodes_cut = nodes_cut or one.nodes_cut
    value = {"eventType": event_type, "events": events}
    return BoundedEvent(int(cast(float, size)), None, value, tuple(cuts), nodes_cut)


def _feed_item_text(conn: apsw.Connection, local_index: int) -> str:
    """The row's data in full, as ``MirrorReads.feed_item_json`` gives it."""
    row = conn.execute(
        "SELECT CASE WHEN data ->> '$.events' IS NOT NULL THEN json(data) ELSE "
        "json_object('eventType', data ->> '$.eventType', 'events', "
        "json((SELECT json_group_array(json(e.raw_jsonb)) FROM events AS e "
        "WHERE e.local_index BETWEEN f.first_offset - 1 AND f.last_offset - 1))) END "
        "FROM feed_items AS f WHERE f.local_index = ?",
        (local_index,),
    ).fetchone()
    return "null" if row is None or row[0] is None else str(row[0])


def pretty_event_text(conn: apsw.Connection, offset: int) -> str:
    """The whole event as indented JSON, formatted by SQLite (without holding the GIL)."""
    row = conn.execute(
        "SELECT json_pretty(raw_jsonb, '  ') FROM events WHERE local_index = ?", (offset - 1,)
    ).fetchone()
    return "null" if row is None or row[0] is None else str(row[0])


def pretty_feed_item_text(conn: apsw.Connection, local_index: int) -> str:
    """A whole feed row (a group with all its events) as indented JSON, formatted by SQLite."""
    row = conn.execute(
        "SELECT json_pretty(?, '  ')", (_feed_item_text(conn, local_index),)
    ).fetchone()
    return "null" if row is None or row[0] is None else str(row[0])
