"""What a stream runtime shows: status, catch-up progress, local mirrors, timings (pure data).

Public API (re-exported by ``mirror.runtime``, the contract in docs/architecture.md):

- ``RuntimeStatus``: ``connection`` (a ``ConnectionState``), ``role`` (a ``Role``; both are
  ``StrEnum``s from ``mirror.connection_state``, equal to their strings),
  ``event_count``, ``max_offset``, ``last_error``, ``catchup``, ``clear_version``, ``notice``,
  ``incarnation`` (read from the mirror file with the count, so the two always agree).
- ``CatchupProgress(done, total, rate)``: events mirrored of the server's total, events/s.
- ``MirrorInfo``: one mirror file on disk (``server_url`` as recorded in the file, ``namespace``,
  ``path``, ``file``, ``event_count``, ``incarnation``; ``archived_at`` for an archive, and a
  live mirror's ``archives``).
- ``RuntimeTiming``: every delay and size the runtime uses; tests shorten some of them.
- ``ReconnectRecord(reason, delay, wait)``: one call of the reconnect path (``delay`` asked for,
  ``wait`` actually armed, longer while an ingest backoff is pending).
- ``follower_notice(event_count)``: why a follower shows what it shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mirror.connection_state import ConnectionState, Role

FOLLOWER_EMPTY_NOTICE = (
    "another Streamdesk process is writing this mirror; waiting for its first events"
)
NO_LOCAL_MIRROR_NOTICE = "there is no local mirror of this stream yet"


@dataclass(frozen=True, slots=True)
class CatchupProgress:
    done: int
    total: int
    rate: float


@dataclass(frozen=True, slots=True)
class RuntimeStatus:
    connection: ConnectionState
    role: Role
    event_count: int = 0
    max_offset: int = 0
    last_error: str | None = None
    catchup: CatchupProgress | None = None
    clear_version: int = 0
    notice: str | None = None
    # The stream incarnation (``createdAt``) the local mirror holds, None before it records one.
    incarnation: str | None = None


@dataclass(frozen=True, slots=True)
class MirrorInfo:
    server_url: str | None
    namespace: str
    path: str
    file: Path
    event_count: int
    incarnation: str | None = None
    # Set on an archive of an earlier incarnation (mirror.archive): when it was moved aside.
    archived_at: str | None = None
    archives: tuple[MirrorInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class ReconnectRecord:
    reason: str
    delay: float
    wait: float


@dataclass(frozen=True, slots=True)
class RuntimeTiming:
    """Seconds and sizes; the defaults are the contract's numbers."""

    probe_interval: float = 10.0
    probe_deadline: float = 5.0
    probe_misses: int = 2
    step_deadline: float = 15.0
    election_poll: float = 0.15
    live_poll: float = 0.05
    coalesce: float = 0.016
    catchup_threshold: int = 1000
    catchup_page: int = 5000
    # Deliveries waiting to be written beyond this: drop the socket and page history instead.
    live_backlog_limit: int = 20_000
    # At most this many queued delivered events go into one transaction.
    max_transaction_events: int = 20_000
    unsubscribe_deadline: float = 5.0


def follower_notice(event_count: int) -> str | None:
    return FOLLOWER_EMPTY_NOTICE if event_count == 0 else None
