"""What ``streamdesk mirror`` shows on stderr: status changes as lines, catch-up progress.

Public API:

- ``MirrorProgress(stream, *, describe)``: ``update(status, retry)`` for every
  ``RuntimeStatus`` (``retry``: the ``ReconnectRecord`` that put it in ``reconnecting``);
  ``line(text)`` for a line of the verb's own; ``finish()`` at the end. ``describe(error)``
  puts an error message in words (``mirror.cli_failure``).

The catch-up is a ``rich`` progress display (events done of the server's total, percent, the
runtime's events/s, time remaining): a live bar on a terminal; into a pipe or a file, the same
columns without the bar as a plain line at most once a second. A status line (connection,
role, events, last error, notice) is printed only when one of them changes; while the
runtime retries, each attempt is one line, ``reconnecting``, with the delay before the next
(the ``connecting`` in between is not shown).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from mirror.connection_state import ConnectionState
from mirror.runtime_status import CatchupProgress, ReconnectRecord, RuntimeStatus

_PLAIN_EVERY_S = 1.0


def _columns(terminal: bool) -> list[ProgressColumn]:
    columns: list[ProgressColumn] = [TextColumn("catching up")]
    if terminal:
        columns.append(BarColumn())
    columns += [
        TaskProgressColumn(),
        TextColumn("{task.completed:,.0f} / {task.total:,.0f} events"),
        TextColumn("{task.fields[rate]:,.0f} ev/s"),
        TimeRemainingColumn(),
    ]
    return columns


class MirrorProgress:
    def __init__(self, stream: TextIO, *, describe: Callable[[str], str]) -> None:
        self.describe = describe
        self.console = Console(
            file=stream, highlight=False, markup=False, emoji=False, soft_wrap=True
        )
        self.terminal = self.console.is_terminal
        self._shown: tuple[object, ...] | None = None
        # One rich Progress per catch-up round (a reset starts another round).
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._last_plain = 0.0

    def line(self, text: str) -> None:
        self.console.print(text)

    def update(self, status: RuntimeStatus, retry: ReconnectRecord | None = None) -> None:
        if status.catchup is not None:
            self._catching_up(status.catchup)
            return
        self._end_round()
        retrying = self._shown is not None and self._shown[0] == ConnectionState.RECONNECTING
        if status.connection == ConnectionState.CONNECTING and retrying:
            return
        # The record itself, not its fields: every retry is a line, even an identical one.
        shown = (status.connection, status.role, status.last_error, status.notice, id(retry))
        if shown == self._shown:
            return
        self._shown = shown
        text = f"{status.connection} ({status.role}): {status.event_count:,} events"
        if status.last_error:
            label = "" if retry is not None else "last error: "
            text += f"; {label}{self.describe(status.last_error)}"
        if retry is not None:
            text += f"; retrying in {retry.wait:.1f} s"
        if status.notice:
            text += f"; {status.notice}"
        self.line(text)

    def _catching_up(self, catchup: CatchupProgress) -> None:
        if self._progress is None or self._task is None:
            self._progress = Progress(
                *_columns(self.terminal), console=self.console, auto_refresh=self.terminal
            )
            self._task = self._progress.add_task("catch-up", total=catchup.total, rate=0.0)
            if self.terminal:
                self._progress.start()
        progress, task = self._progress, self._task
        progress.update(
            task, completed=catchup.done, total=max(catchup.total, 1), rate=catchup.rate
        )
        if not self.terminal and time.monotonic() - self._last_plain >= _PLAIN_EVERY_S:
            self._last_plain = time.monotonic()
            self._print_plain(progress)

    def _print_plain(self, progress: Progress) -> None:
        self.console.print(progress.make_tasks_table(progress.tasks))

    def _end_round(self) -> None:
        progress, self._progress, self._task = self._progress, None, None
        if progress is None:
            return
        if self.terminal:
            progress.stop()  # leaves the final bar on screen
        else:
            self._print_plain(progress)

    def finish(self) -> None:
        self._end_round()
