"""Field names for filter completion, sampled from the newest events.

Public API:

- ``field_names(conn, sample=DEFAULT_SAMPLE) -> list[str]``: every object path (in the filter
  language's spelling: ``payload.user.id``, ``payload."weird key"``) found in the last
  ``sample`` events, sorted; array elements are not listed (``payload.items`` is, its elements
  are addressed as ``payload.items[0]``). Cost: ``json_tree`` over the sample, about the price of
  reading those events once.
- ``path_from_json_tree(fullkey) -> str | None``: the pure conversion of one ``json_tree``
  ``fullkey`` (``$.payload."weird key"``); None for the root and for paths through arrays.
"""

from __future__ import annotations

import apsw

from mirror.search.filter_lang import FieldPath

DEFAULT_SAMPLE = 1000

_SQL = (
    "SELECT DISTINCT t.fullkey FROM "
    "(SELECT raw_jsonb FROM events ORDER BY local_index DESC LIMIT ?) AS e, "
    "json_tree(e.raw_jsonb) AS t WHERE t.fullkey NOT LIKE '%[%'"
)


def _split(path: str) -> list[str] | None:
    """``a."b c".d`` -> ``["a", "b c", "d"]`` (the part after ``$.``); None if malformed."""
    keys: list[str] = []
    i = 0
    while i < len(path):
        if path[i] == '"':
            end = path.find('"', i + 1)
            if end < 0:
                return None
            keys.append(path[i + 1 : end])
            i = end + 1
        else:
            end = path.find(".", i)
            end = len(path) if end < 0 else end
            keys.append(path[i:end])
            i = end
        if i < len(path):
            if path[i] != ".":
                return None
            i += 1
    return keys


def path_from_json_tree(fullkey: str) -> str | None:
    if not fullkey.startswith("$.") or "[" in fullkey:
        return None
    keys = _split(fullkey[2:])
    return None if not keys else str(FieldPath(tuple(keys)))


def field_names(conn: apsw.Connection, sample: int = DEFAULT_SAMPLE) -> list[str]:
    names = {
        name
        for (fullkey,) in conn.execute(_SQL, (sample,)).fetchall()
        if (name := path_from_json_tree(str(fullkey))) is not None
    }
    return sorted(names)
