"""The search index's storage: table, setting, checkpoint slug and the searched text.

Public API:

- ``SEARCH_INDEX_SLUG``: its ``processor_state.processor_slug``; ``max_offset`` is the last
  indexed offset (``indexed_through``).
- ``SEARCH_SETTING_KEY``: the ``mirror_meta`` key that turns the index off (value ``"off"``).
- ``SEARCH_TABLE`` / ``CREATE_SEARCH_TABLE``: the FTS5 table (rowid = ``local_index``), created
  lazily and idempotently by the indexer, so existing mirrors need no schema-version bump.
- ``CHARS_TABLE`` / ``CREATE_CHARS_TABLE`` / ``CHAR_BLOCK``: per block of ``CHAR_BLOCK``
  offsets and per character, how many events' searched text holds that character (written by
  the indexer with the FTS rows, in the same transaction). It answers what the trigram index
  cannot: how many events hold a one-character text, and which characters follow a
  two-character one. An index without it (built by an older version) is not trusted and is
  rebuilt.
- ``END_MARK``: the character the searched text ends with. It is never part of a query
  (``query_text`` drops it), so every occurrence of a two-character text is the start of a
  trigram, even at the very end of the text.
- ``search_text_sql(alias)``: the SQL expression of an ``events`` row's searched text; the index
  and the scan of the unindexed tail use the same one, so both find the same rows.
- ``clear_search_index(conn)``: drop the tables and the checkpoint (inside the caller's
  transaction); ``MirrorDb.discard()`` calls it.
- ``query_text(text)``: what a typed text searches for (ASCII lower-cased, ``END_MARK`` dropped).

Design notes:

- The searched text is ``type``, the payload and the metadata as compact JSON, joined by spaces
  and lower-cased with SQLite's ``lower()`` (ASCII letters only). Case-insensitivity is therefore
  ASCII-only everywhere, index and scans alike; the tokenizer runs case-sensitive over the
  lowered text. Inside JSON strings a quote or backslash appears escaped (``\\"``).
- The table is contentless (``content=''``): the text lives once, in ``events``; a trigram
  phrase match is an exact substring match, so no row needs re-checking against its text.
  ``columnsize=0`` drops the per-row token counts, which only ranking would use.
- Not in ``mirror.schema``: a schema-version reset drops the tables there but leaves this one;
  the reset also deletes every checkpoint, and the indexer clears the table whenever its
  checkpoint is missing, so stale rows are never trusted.
"""

from __future__ import annotations

import apsw

SEARCH_INDEX_SLUG = "search-index"
SEARCH_SETTING_KEY = "search-index"
SEARCH_OFF = "off"
SEARCH_TABLE = "search_fts"
CHARS_TABLE = "search_chars"
CHAR_BLOCK = 1024
# A noncharacter: JSON text carries it only if an event does, and a query never does.
END_MARK = "\uffff"

CREATE_SEARCH_TABLE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {SEARCH_TABLE} USING fts5("
    "text, content='', columnsize=0, tokenize='trigram case_sensitive 1')"
)
CREATE_CHARS_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {CHARS_TABLE} ("
    "ch TEXT NOT NULL, block INTEGER NOT NULL, n INTEGER NOT NULL, "
    "PRIMARY KEY (ch, block)) WITHOUT ROWID"
)


def search_text_sql(alias: str = "events") -> str:
    """The lower-cased searched text of the ``events`` row named ``alias`` (an SQL expression)."""
    return (
        f"lower(concat_ws(' ', {alias}.type, {alias}.raw_jsonb -> '$.payload', "
        f"{alias}.raw_jsonb -> '$.metadata')) || char({ord(END_MARK)})"
    )


def clear_search_index(conn: apsw.Connection) -> None:
    """Drop the index and its checkpoint (the caller holds the write transaction)."""
    conn.execute(f"DROP TABLE IF EXISTS {SEARCH_TABLE}")
    conn.execute(f"DROP TABLE IF EXISTS {CHARS_TABLE}")
    conn.execute("DELETE FROM processor_state WHERE processor_slug = ?", (SEARCH_INDEX_SLUG,))


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lower-case ASCII letters only, as SQLite's ``lower()`` does (the searched text's case)."""
    return text.translate(_ASCII_LOWER)


def query_text(text: str) -> str:
    """What ``text`` searches for: the searched text's case, without ``END_MARK``."""
    return ascii_lower(text).replace(END_MARK, "")
