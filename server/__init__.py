"""The embedded stream server: stream engines, SQLite storage and the ASGI app."""
