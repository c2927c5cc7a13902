"""Compare a local mirror with the server's log, event by event (self-test, tests, tools).

Public API:

- ``EventComparison``: feed it the two sides in step (``step(mine, theirs)``), then
  ``finish(rest_of_mine, rest_of_theirs)``; ``problem`` is the first loss, duplicate, gap,
  reordering or changed event found (None while both sides agree).
- ``first_difference(local, remote) -> str | None``: the same over two iterables.
- ``async verify_against_server(reader, client, *, page=5000, through=None) -> str | None``:
  a mirror (anything with ``iter_events_json``) against ``client.get_events``, paged on both
  sides so memory stays flat. ``through``: compare offsets up to this one (default: the
  server's ``maxOffset`` when the comparison starts; the mirror may hold more).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, Protocol

import orjson

from mirror.types import Event
from wire.stream_client import StreamClient


class _JsonEvents(Protocol):
    def iter_events_json(self, types: Any = None, batch: int = 1000) -> Iterator[str]: ...


class EventComparison:
    def __init__(self) -> None:
        self.problem: str | None = None
        self.compared = 0
        self._last = 0

    def step(self, mine: Event | None, theirs: Event | None) -> bool:
        """Compare one event of each side; False once a problem is known."""
        if self.problem is not None:
            return False
        if mine is None and theirs is None:
            return True
        if mine is None:
            assert theirs is not None
            self.problem = (
                f"the mirror ends at offset {self._last}; the server has offset "
                f"{theirs.get('offset')}"
            )
            return False
        if theirs is None:
            self.problem = f"the mirror has offset {mine.get('offset')} beyond the server's log"
            return False
        for side, event in (("mirror", mine), ("server", theirs)):
            offset = event.get("offset")
            if offset == self._last:
                self.problem = f"{side}: offset {offset} appears twice"
            elif offset != self._last + 1:
                self.problem = f"{side}: offset {offset} follows {self._last} (gap or reordering)"
            if self.problem is not None:
                return False
        if mine != theirs:
            self.problem = f"offset {self._last + 1} differs: mirror {mine!r}, server {theirs!r}"
            return False
        self._last += 1
        self.compared += 1
        return True


def first_difference(local: Iterable[Event], remote: Iterable[Event]) -> str | None:
    comparison = EventComparison()
    local_iter, remote_iter = iter(local), iter(remote)
    while True:
        mine, theirs = next(local_iter, None), next(remote_iter, None)
        if mine is None and theirs is None:
            return None
        if not comparison.step(mine, theirs):
            return comparison.problem


async def _server_events(client: StreamClient, page: int, through: int) -> AsyncIterator[Event]:
    after = 0
    while after < through:
        limit = min(page, through - after)
        events = await client.get_events(after_offset=after, limit=limit)
        for event in events:
            yield event
        if len(events) < limit:
            return
        after = int(events[-1]["offset"])


async def verify_against_server(
    reader: _JsonEvents,
    client: StreamClient,
    *,
    page: int = 5000,
    through: int | None = None,
) -> str | None:
    if through is None:
        state = await client.runtime_state()
        through = int(state["coreProcessorState"]["maxOffset"])
    local = (orjson.loads(text) for text in reader.iter_events_json(None, page))
    comparison = EventComparison()
    async for theirs in _server_events(client, page, through):
        if not comparison.step(next(local, None), theirs):
            return comparison.problem
    if comparison.compared < through:
        return f"the server returned {comparison.compared} events, expected {through}"
    return None
