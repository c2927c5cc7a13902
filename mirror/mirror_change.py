"""What a mirror file's watcher publishes, and the pure decision of when (no I/O).

Public API:

- ``MirrorChange(count, max_offset, incarnation, cleared, replaced, exists)``: the mirror as the
  watcher last read it. ``cleared``: rows went away or the file records another incarnation
  than before (some process discarded or rebuilt it: views reload). ``replaced``: the file the
  watcher had open is no longer at the path (archived, quarantined, deleted). ``exists``: there
  is a file at the path (counts are 0 and incarnation None when there is not).
- ``next_change(previous, *, count, incarnation, exists, replaced) -> MirrorChange | None``:
  the change to publish after a read, or None when nothing a view shows moved (a commit that
  only wrote checkpoints or the search index).
- ``FileIdentity``: ``(st_dev, st_ino)`` of the file at the path.
"""

from __future__ import annotations

from dataclasses import dataclass

FileIdentity = tuple[int, int]


@dataclass(frozen=True, slots=True)
class MirrorChange:
    count: int
    max_offset: int
    incarnation: str | None
    cleared: bool = False
    replaced: bool = False
    exists: bool = True

    @property
    def reloads_views(self) -> bool:
        return self.cleared or self.replaced


def next_change(
    previous: MirrorChange | None,
    *,
    count: int,
    incarnation: str | None,
    exists: bool,
    replaced: bool,
) -> MirrorChange | None:
    if (
        previous is not None
        and not replaced
        and (count, incarnation, exists)
        == (
            previous.count,
            previous.incarnation,
            previous.exists,
        )
    ):
        return None
    reincarnated = (
        previous is not None
        and previous.incarnation is not None
        and incarnation is not None
        and incarnation != previous.incarnation
    )
    shrunk = previous is not None and count < previous.count
    # Rows are contiguous from offset 1, so the count is also the last offset.
    return MirrorChange(
        count=count,
        max_offset=count,
        incarnation=incarnation,
        cleared=shrunk or reincarnated,
        replaced=replaced,
        exists=exists,
    )
