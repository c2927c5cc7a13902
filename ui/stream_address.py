"""Normalising what the user types into stream paths and namespaces (pure)."""

from __future__ import annotations

from mirror.paths import DEFAULT_NAMESPACE, normalize_path
from mirror.paths import PathError as StreamPathError

__all__ = ["StreamPathError", "last_segment", "normalize_namespace", "normalize_path"]


def normalize_namespace(text: str) -> str:
    return text.strip() or DEFAULT_NAMESPACE


def last_segment(path: str) -> str:
    """The name a stream tree shows for a path: its last segment, or '/' for the root."""
    return path.rstrip("/").rsplit("/", 1)[-1] or "/"
