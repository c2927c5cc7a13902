"""Is a mirror file damaged? (blocking, no Qt)

Public API:

- ``is_damage(error) -> bool``: the error (or an error it was raised from) says the file itself
  is damaged: SQLite's ``SQLITE_CORRUPT`` or ``SQLITE_NOTADB``. Retrying cannot heal those; the
  writer moves the file aside and rebuilds it from the server instead.
- ``quick_check(path) -> str | None``: ``PRAGMA quick_check`` on a read-only connection of its
  own (in WAL mode it never blocks the writer, which goes on committing); None when the file
  is sound, else SQLite's first complaint. Errors that say nothing about the file's pages (busy,
  I/O, a file that is gone) are raised, not reported as damage.
- ``DamagedMirrorError``: raised by readers for a damaged file, with a message for people.
"""

from __future__ import annotations

from pathlib import Path

import apsw

_DAMAGE = (apsw.CorruptError, apsw.NotADBError)


class DamagedMirrorError(Exception):
    """The mirror file is damaged; its message says so in words."""


def is_damage(error: BaseException | None) -> bool:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, (*_DAMAGE, DamagedMirrorError)):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def quick_check(path: Path) -> str | None:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        conn.set_busy_timeout(5000)
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except _DAMAGE as error:
        return str(error)
    finally:
        conn.close()
    problems = [str(row[0]) for row in rows if str(row[0]) != "ok"]
    return problems[0] if problems else None
