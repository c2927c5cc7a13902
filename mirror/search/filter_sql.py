"""Compile a parsed field filter (``mirror.search.filter_lang``) to parameterized SQL. Pure.

Public API:

- ``compile_filter(node, alias="e") -> CompiledFilter(sql, params)``: a boolean SQL expression
  over the ``events`` row named ``alias`` (a fixed name chosen by the caller, never user text).
  Every user value and every JSON path is a bound parameter; the SQL text holds only fixed
  fragments, so nothing typed in a filter can change the statement.
- ``json_path(path) -> str``: the SQLite JSON path of a field (each key quoted).

Semantics (every condition is true or false, never NULL, so ``not`` is a plain negation):

- ``type`` is the event type, ``offset`` the event offset (both use the table's indexes); any
  other path is read from the event's JSON (``payload.x``, ``metadata.x``, ``createdAt``).
- ``= "s"`` / ``= 5``: the field is a JSON string / number equal to the value (strings exactly,
  case included); ``= true``, ``= false``, ``= null``: the field holds that JSON value.
- ``!=``: the negation of ``=``, so a missing field counts as different.
- ``<``, ``<=``, ``>``, ``>=``: the field is a number (for a number) or a string (for a string,
  compared by code points) and compares so.
- ``~ "s"``: the field's text contains ``s``, ASCII-case-insensitive (like the text search); an
  object or array is matched as its compact JSON.
- ``exists path``: the field is present (a JSON null counts as present).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mirror.search.filter_lang import And, Compare, Exists, FieldPath, Literal, Node, Not, Or
from mirror.search.store import ascii_lower

_NUMERIC = "('integer', 'real')"
# Integers up to this size convert to floats exactly, so a float bound stands for them.
_EXACT_FLOAT = 2.0**52


@dataclass(frozen=True, slots=True)
class CompiledFilter:
    sql: str
    params: tuple[object, ...]


def json_path(path: FieldPath) -> str:
    parts = ["$"]
    for segment in path.segments:
        parts.append(f"[{segment}]" if isinstance(segment, int) else f'."{segment}"')
    return "".join(parts)


def compile_filter(node: Node, alias: str = "e") -> CompiledFilter:
    if not alias.isidentifier():
        raise ValueError(f"not an SQL alias: {alias!r}")
    params: list[object] = []
    sql = _Compiler(alias, params).node(node)
    return CompiledFilter(sql, tuple(params))


def _kind(value: Literal) -> str | None:
    """The ``json_type`` a field must have to equal ``value`` (None: any number)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "text"
    return None


class _Compiler:
    def __init__(self, alias: str, params: list[object]) -> None:
        self.alias = alias
        self.params = params

    def node(self, node: Node) -> str:
        if isinstance(node, And):
            return "(" + " AND ".join(self.node(n) for n in node.operands) + ")"
        if isinstance(node, Or):
            return "(" + " OR ".join(self.node(n) for n in node.operands) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.node(node.operand)})"
        if isinstance(node, Exists):
            return self._exists(node.path)
        return self._compare(node)

    def _bind(self, *values: object) -> None:
        self.params.extend(values)

    def _exists(self, path: FieldPath) -> str:
        if path.segments in (("type",), ("offset",)):
            return "1"
        self._bind(json_path(path))
        return f"(json_type({self.alias}.raw_jsonb, ?) IS NOT NULL)"

    def _compare(self, node: Compare) -> str:
        if node.op == "!=":
            return f"(NOT {self._compare(Compare(node.path, '=', node.value))})"
        if node.path.segments == ("type",):
            return self._column(f"{self.alias}.type", "text", node)
        if node.path.segments == ("offset",):
            return self._offset(node)
        return self._json(node)

    def _column(self, column: str, kind: str, node: Compare) -> str:
        """A NOT NULL column whose JSON kind is fixed."""
        if node.op == "~":
            self._bind(ascii_lower(str(node.value)))
            return f"(instr(lower({column}), ?) > 0)"
        matches = isinstance(node.value, str) if kind == "text" else _is_number(node.value)
        if not matches:
            return "0"
        self._bind(node.value)
        return f"({column} {node.op} ?)"

    def _offset(self, node: Compare) -> str:
        if isinstance(node.value, int) and not isinstance(node.value, bool) and node.op != "~":
            # local_index = offset - 1: the primary key answers the range.
            self._bind(node.value - 1)
            return f"({self.alias}.local_index {node.op} ?)"
        return self._column(f"({self.alias}.local_index + 1)", "integer", node)

    def _json(self, node: Compare) -> str:
        raw = f"{self.alias}.raw_jsonb"
        path = json_path(node.path)
        if node.op == "~":
            self._bind(path, ascii_lower(str(node.value)))
            return f"coalesce(instr(lower({raw} ->> ?), ?) > 0, 0)"
        kind = _kind(node.value)
        if node.op == "=" and kind in ("null", "true", "false"):
            self._bind(path, kind)
            return f"(json_type({raw}, ?) IS ?)"
        if isinstance(node.value, str):
            return self._json_string(raw, path, node.op, node.value)
        return self._json_number(raw, path, node.op, float(node.value or 0), node.value)

    def _guarded(self, raw: str, path: str, op: str, value: object, kinds: str) -> str:
        """The general form: the field's JSON kind, then the comparison (two path lookups)."""
        self._bind(path, path, value)
        return f"coalesce(json_type({raw}, ?) IN {kinds} AND ({raw} ->> ?) {op} ?, 0)"

    def _json_string(self, raw: str, path: str, op: str, value: str) -> str:
        # ->> gives a JSON string as text, a number as a number (always below any text), and
        # an object or array as its JSON text: one lookup is exact unless the literal could be
        # such a JSON text, or the comparison admits numbers (< and <=).
        if (op == "=" and value[:1] not in "{[") or op in (">", ">="):
            self._bind(path, value)
            return f"coalesce(({raw} ->> ?) {op} ?, 0)"
        return self._guarded(raw, path, op, value, "('text')")

    def _json_number(self, raw: str, path: str, op: str, bound: float, value: object) -> str:
        # ->> gives true/false as 1/0 and a string as text (above every number), so a range
        # with finite number bounds excludes strings by itself; BETWEEN reads the field once.
        # The kind is checked only when 0 or 1 falls in the range, or a bound is inexact.
        if abs(bound) >= _EXACT_FLOAT or bound != value:
            return self._guarded(raw, path, op, value, _NUMERIC)
        low, high = _range(op, bound)
        sql = f"coalesce(({raw} ->> ?) BETWEEN ? AND ?, 0)"
        self._bind(path, low, high)
        if low <= 0 <= high or low <= 1 <= high:
            self._bind(path)
            sql = f"({sql} AND json_type({raw}, ?) IN {_NUMERIC})"
        return sql


def _range(op: str, bound: float) -> tuple[float, float]:
    """The closed range of numbers ``op bound`` holds for (strict bounds moved by one ulp)."""
    if op == "=":
        return bound, bound
    if op == ">=":
        return bound, math.inf
    if op == ">":
        return math.nextafter(bound, math.inf), math.inf
    if op == "<=":
        return -math.inf, bound
    return -math.inf, math.nextafter(bound, -math.inf)


def _is_number(value: Literal) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
