"""Cap'n Web codec and sessions, transports and the typed stream API. No Qt, no SQLite."""
