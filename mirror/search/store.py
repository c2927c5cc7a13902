"""The search index's storage: table, setting, checkpoint slug and the searched text.

Public API:

- ``SEARCH_INDEX_SLUG``: its ``processor_state.processor_slug``; ``max_offset`` is the last
  indexed offset (``indexed_through``).
- ``SEARCH_SETTING_KEY``: the ``mirror_meta`` key that turns the index off (value ``"off"``).
- ``SEARCH_TABLE`` / ``CREATE_SEARCH_TABLE``: the FTS5 table (rowid = ``local_index``), created
  lazily and idempotently by the indexer, so existing mirrors need no schema-version bump.
- ``search_text_sql(alias)``: the SQL expression of an ``events`` row's searched text; the index
  and the scan of the unindexed tail use the same one, so both find the same rows.
- ``clear_search_index(conn)``: drop the table and its checkpoint (inside the caller's
  transaction); ``MirrorDb.discard()`` calls it.

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

CREATE_SEARCH_TABLE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {SEARCH_TABLE} USING fts5("
    "text, content='', columnsize=0, tokenize='trigram case_sensitive 1')"
)


def search_text_sql(alias: str = "events") -> str:
    """The lower-cased searched text of the ``events`` row named ``alias`` (an SQL expression)."""
    return (
        f"lower(concat_ws(' ', {alias}.type, {alias}.raw_jsonb -> '$.payload', "
        f"{alias}.raw_jsonb -> '$.metadata'))"
    )


def clear_search_index(conn: apsw.Connection) -> None:
    """Drop the index and its checkpoint (the caller holds the write transaction)."""
    conn.execute(f"DROP TABLE IF EXISTS {SEARCH_TABLE}")
    conn.execute("DELETE FROM processor_state WHERE processor_slug = ?", (SEARCH_INDEX_SLUG,))


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lower-case ASCII letters only, as SQLite's ``lower()`` does (the searched text's case)."""
    return text.translate(_ASCII_LOWER)
