"""Phrases of search, filters, jumps and big events, built from numbers (pure)."""

from __future__ import annotations


def byte_size(n: int) -> str:
    """'812 B', '64 KB', '2.4 MB' (binary units, one decimal from a megabyte on)."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n // 1024} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def short_count(n: int) -> str:
    """'640', '640k', '1.2M' for progress phrases."""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.0f}k"
    return f"{n / 1_000_000:.1f}".rstrip("0").rstrip(".") + "M"


def hit_text(k: int | None, n: int | None) -> str:
    """'hit 3 of 12', 'no hits', '12 hits' (before stepping), '…' while counting."""
    if n is None:
        return "counting…" if k is None else f"hit {k:,} of …"
    if n == 0:
        return "no hits"
    if k is None:
        return f"{n:,} hits"
    return f"hit {k:,} of {n:,}"


def index_progress_text(indexed_through: int, total: int) -> str | None:
    """'index: 640k of 1M, the rest scanned' while the search index is behind (None when it
    covers everything)."""
    if total <= 0 or indexed_through >= total:
        return None
    if indexed_through <= 0:
        return "not indexed yet: scanning"
    return f"index: {short_count(indexed_through)} of {short_count(total)}, the rest scanned"


def cut_note(path: str, size: int, shown: int) -> str:
    """The line above a bounded expansion: '$.payload.text: 2.4 MB, showing the first 64 KB'."""
    return f"{path}: {byte_size(size)}, showing the first {byte_size(shown)}"
