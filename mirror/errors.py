"""The mirror's own errors, so callers (the UI, the CLI) can tell them apart from bugs.

- ``MirrorError``: the base of all of them.
- ``OfflineError``: a server call on a runtime that has no server.
- ``RuntimeClosedError``: the runtime (or its server calls) was closed; acquire the stream again.
- ``NotTheWriterError``: the action needs the process that writes the mirror (another process
  holds the writer lock), e.g. clearing a mirror someone else writes.
- ``ProcessorNotReadyError``: a processor was used before it loaded its checkpoint or was
  attached to a stream.
"""

from __future__ import annotations


class MirrorError(Exception):
    """Something the mirror layer refused, with a message for people."""


class OfflineError(MirrorError):
    """A server call on a runtime that has no server."""


class RuntimeClosedError(MirrorError):
    """The runtime was closed: acquire the stream again."""


class NotTheWriterError(MirrorError):
    """Only the process that writes the mirror may do this."""


class ProcessorNotReadyError(MirrorError):
    """A processor was used before it was ready (checkpoint loaded, stream attached)."""
