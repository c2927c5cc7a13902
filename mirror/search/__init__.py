"""Search over a mirror: a trigram index kept in the background, substring and field queries.

Modules: ``store`` (the index's table, setting and checkpoint names), ``indexer`` (the writer
side), ``queries`` (the reader side), ``filter_lang`` (the field filter parser) and
``filter_sql`` (its compiler), ``fields`` (field names for completion).
"""
