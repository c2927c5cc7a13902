"""What the read-only SQL console (and ``streamdesk query``) may run: a pure policy over SQLite's
authorizer actions, plus the hooks that apply it to one apsw connection.

Public API:

- ``ReadOnlyRefused(message)``: raised out of the statement that was refused; its message is
  ``"read-only: <statement kind> is not allowed"`` (e.g. ``VACUUM``, ``CREATE TEMP TABLE``,
  ``PRAGMA journal_mode=DELETE``, ``ATTACH``).
- ``refusal(action, arg1, arg2) -> str | None``: the authorizer policy (pure): None admits the
  action, a string is the refusal message. Admitted: SELECT, READ, RECURSIVE, functions other
  than ``DENIED_FUNCTIONS``, and the pragmas of ``READ_PRAGMAS`` (without an argument) and
  ``NAMED_READ_PRAGMAS`` (whose argument names a table, index or schema).
- ``statement_kind(sql) -> str``: a statement named by its leading keywords (pure).
- ``install_read_only_guard(connection)``: the authorizer, and an exec tracer that refuses any
  statement SQLite reports as not read-only (e.g. VACUUM, which the authorizer never sees as such)
  before it runs.

Changes to SQLite's own tables (``sqlite_*``) are admitted by the authorizer: they only come as a
step of DDL or ANALYZE, which is then refused under its own action with a better name. A user's
own write to such a table (``DELETE FROM sqlite_stat1``) still meets the exec tracer, and the
console connection is opened read-only besides.
"""

from __future__ import annotations

import re
from typing import Any, Final

import apsw

__all__ = [
    "DENIED_FUNCTIONS",
    "NAMED_READ_PRAGMAS",
    "READ_PRAGMAS",
    "ReadOnlyRefused",
    "install_read_only_guard",
    "refusal",
    "statement_kind",
]


class ReadOnlyRefused(apsw.AuthError):
    """A statement the read-only console does not run; the message says which kind."""


ADMITTED_ACTIONS: Final = frozenset({apsw.SQLITE_SELECT, apsw.SQLITE_READ, apsw.SQLITE_RECURSIVE})

# Action code -> the statement kind a refusal names; the codes handled in `refusal` itself
# (PRAGMA, FUNCTION, TRANSACTION, SAVEPOINT) are not here.
ACTION_KINDS: Final[dict[int, str]] = {
    apsw.SQLITE_INSERT: "INSERT",
    apsw.SQLITE_UPDATE: "UPDATE",
    apsw.SQLITE_DELETE: "DELETE",
    apsw.SQLITE_CREATE_TABLE: "CREATE TABLE",
    apsw.SQLITE_CREATE_TEMP_TABLE: "CREATE TEMP TABLE",
    apsw.SQLITE_CREATE_INDEX: "CREATE INDEX",
    apsw.SQLITE_CREATE_TEMP_INDEX: "CREATE TEMP INDEX",
    apsw.SQLITE_CREATE_VIEW: "CREATE VIEW",
    apsw.SQLITE_CREATE_TEMP_VIEW: "CREATE TEMP VIEW",
    apsw.SQLITE_CREATE_TRIGGER: "CREATE TRIGGER",
    apsw.SQLITE_CREATE_TEMP_TRIGGER: "CREATE TEMP TRIGGER",
    apsw.SQLITE_CREATE_VTABLE: "CREATE VIRTUAL TABLE",
    apsw.SQLITE_DROP_TABLE: "DROP TABLE",
    apsw.SQLITE_DROP_TEMP_TABLE: "DROP TEMP TABLE",
    apsw.SQLITE_DROP_INDEX: "DROP INDEX",
    apsw.SQLITE_DROP_TEMP_INDEX: "DROP TEMP INDEX",
    apsw.SQLITE_DROP_VIEW: "DROP VIEW",
    apsw.SQLITE_DROP_TEMP_VIEW: "DROP TEMP VIEW",
    apsw.SQLITE_DROP_TRIGGER: "DROP TRIGGER",
    apsw.SQLITE_DROP_TEMP_TRIGGER: "DROP TEMP TRIGGER",
    apsw.SQLITE_DROP_VTABLE: "DROP VIRTUAL TABLE",
    apsw.SQLITE_ALTER_TABLE: "ALTER TABLE",
    apsw.SQLITE_REINDEX: "REINDEX",
    apsw.SQLITE_ANALYZE: "ANALYZE",
    apsw.SQLITE_ATTACH: "ATTACH",
    apsw.SQLITE_DETACH: "DETACH",
}

# Pragmas that only report, admitted without an argument (with one, most of them set a value).
READ_PRAGMAS: Final = frozenset(
    {
        "application_id",
        "collation_list",
        "compile_options",
        "data_version",
        "database_list",
        "encoding",
        "freelist_count",
        "function_list",
        "module_list",
        "page_count",
        "page_size",
        "pragma_list",
        "schema_version",
        "user_version",
    }
)
# Pragmas whose argument names what to report on (a table, an index, a schema, a row limit).
NAMED_READ_PRAGMAS: Final = frozenset(
    {
        "foreign_key_check",
        "foreign_key_list",
        "index_info",
        "index_list",
        "index_xinfo",
        "integrity_check",
        "quick_check",
        "table_info",
        "table_list",
        "table_xinfo",
    }
)
# Functions that reach beyond the database (extension loading, the shell's file access) or, like
# fts3_tokenizer with two arguments, install native pointers.
DENIED_FUNCTIONS: Final = frozenset(
    {"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"}
)
# Changes to SQLite's own tables (the schema, sqlite_stat*) come only as a step of a statement
# refused under its own action a moment later, with a better name.
_INTERNAL_PREFIX: Final = "sqlite_"
_INTERNAL_STEPS: Final = frozenset(
    {apsw.SQLITE_INSERT, apsw.SQLITE_UPDATE, apsw.SQLITE_DELETE, apsw.SQLITE_CREATE_TABLE}
)
_SAVEPOINT_KINDS: Final = {"BEGIN": "SAVEPOINT", "RELEASE": "RELEASE", "ROLLBACK": "ROLLBACK TO"}


def _refused(kind: str) -> str:
    return f"read-only: {kind} is not allowed"


def refusal(action: int, arg1: str | None, arg2: str | None) -> str | None:
    """None when the read-only console admits ``action``; else the refusal message."""
    if action in ADMITTED_ACTIONS:
        return None
    if action == apsw.SQLITE_FUNCTION:
        name = (arg2 or "").lower()
        return _refused(f"function {name}()") if name in DENIED_FUNCTIONS else None
    if action == apsw.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in NAMED_READ_PRAGMAS or (name in READ_PRAGMAS and arg2 is None):
            return None
        return _refused(f"PRAGMA {name}" if arg2 is None else f"PRAGMA {name}={arg2}")
    if action in _INTERNAL_STEPS and (arg1 or "").lower().startswith(_INTERNAL_PREFIX):
        return None
    if action == apsw.SQLITE_TRANSACTION:
        return _refused((arg1 or "BEGIN").upper())
    if action == apsw.SQLITE_SAVEPOINT:
        return _refused(_SAVEPOINT_KINDS.get((arg1 or "").upper(), "SAVEPOINT"))
    return _refused(ACTION_KINDS.get(action, _action_name(action)))


def _action_name(action: int) -> str:
    name = apsw.mapping_authorizer_function.get(action, f"action {action}")
    return str(name).removeprefix("SQLITE_").replace("_", " ")


_LEADING_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.DOTALL)
_WORD = re.compile(r"[A-Za-z_]+")
_TWO_WORD_KINDS: Final = frozenset({"VACUUM INTO", "CREATE TEMP", "CREATE TEMPORARY"})
_PRAGMA = re.compile(
    r"PRAGMA\s+(?:\w+\s*\.\s*)?(\w+)\s*(?:=\s*([^;\s]+)|\(\s*([^);]*?)\s*\))?", re.I
)


def statement_kind(sql: str) -> str:
    """``sql``'s kind from its leading keywords: ``VACUUM``, ``VACUUM INTO``, ``DELETE``, ..."""
    comments = _LEADING_COMMENTS.match(sql)
    body = sql[comments.end() :] if comments else sql
    words: list[str] = [str(word).upper() for word in _WORD.findall(body)[:3]]
    if not words:
        return "this statement"
    pragma = _PRAGMA.match(body)
    if pragma:
        name, value = pragma.group(1).lower(), pragma.group(2) or pragma.group(3)
        return f"PRAGMA {name}" if value is None else f"PRAGMA {name}={value}"
    if len(words) >= 2 and f"{words[0]} {words[1]}" in _TWO_WORD_KINDS:
        if words[0] == "CREATE" and len(words) == 3:
            return f"CREATE TEMP {words[2]}"
        return f"{words[0]} {words[1]}"
    if words[0] in ("CREATE", "DROP", "ALTER") and len(words) >= 2:
        return f"{words[0]} {words[1]}"
    return words[0]


def install_read_only_guard(connection: apsw.Connection) -> None:
    """Refuse everything but reads on ``connection`` with a ``ReadOnlyRefused`` naming it."""

    def authorize(
        action: int, arg1: str | None, arg2: str | None, schema: str | None, origin: str | None
    ) -> int:
        message = refusal(action, arg1, arg2)
        if message is not None:
            # apsw raises this out of the prepare (or step) that asked, in place of SQLITE_DENY.
            raise ReadOnlyRefused(message)
        return int(apsw.SQLITE_OK)

    def check_statement(cursor: apsw.Cursor, sql: str, bindings: Any) -> bool:
        if not cursor.is_readonly:
            raise ReadOnlyRefused(_refused(statement_kind(sql)))
        return True

    connection.authorizer = authorize
    connection.exec_trace = check_statement
