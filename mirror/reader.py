"""The UI-facing mirror reader: re-exports ``mirror.db_reads`` (see there for the contract)."""

from mirror.db_reads import EventRow, FeedRow, MirrorReader, MirrorReads

__all__ = ["EventRow", "FeedRow", "MirrorReader", "MirrorReads"]
