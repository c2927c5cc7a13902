"""The SQL console's statement history (pure): newest last, no two equal neighbours, bounded;
Up/Down walk it like a shell's, and the text being edited comes back after the newest."""

from __future__ import annotations

MAX_HISTORY = 200


class StatementHistory:
    def __init__(self, entries: list[str] | None = None, limit: int = MAX_HISTORY) -> None:
        self.entries = list(entries or [])[-limit:]
        self._limit = limit
        self._cursor = len(self.entries)
        self._draft = ""

    def add(self, statement: str) -> None:
        statement = statement.strip()
        if statement and (not self.entries or self.entries[-1] != statement):
            self.entries.append(statement)
            del self.entries[: -self._limit]
        self._cursor = len(self.entries)
        self._draft = ""

    def previous(self, current: str) -> str | None:
        """The statement before the one shown, or None at the oldest."""
        if self._cursor == 0:
            return None
        if self._cursor == len(self.entries):
            self._draft = current
        self._cursor -= 1
        return self.entries[self._cursor]

    def next(self) -> str | None:
        """The statement after the one shown (the draft after the newest), None past it."""
        if self._cursor >= len(self.entries):
            return None
        self._cursor += 1
        return self._draft if self._cursor == len(self.entries) else self.entries[self._cursor]
