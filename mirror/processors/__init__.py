"""Mirror processors (raw events, event feed) and ``MirrorWriter``, which applies both at once."""

from mirror.processors.event_feed import EventFeedProcessor
from mirror.processors.mirror_writer import IncarnationMismatch, MirrorWriter
from mirror.processors.raw_events import RawEventsProcessor

__all__ = ["EventFeedProcessor", "IncarnationMismatch", "MirrorWriter", "RawEventsProcessor"]
