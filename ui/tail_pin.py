"""When a stream list follows its tail, and how many rows arrived while the user looked away.

Pure state machine (no Qt). The list starts pinned to its tail; only user input (wheel, mouse
press, key press, touch) or an explicit "Scroll to top" releases the pin, never a scroll-position
change, because the view's own corrections must not strand it mid-replay. A released list still
follows appended rows while it sits at the end; otherwise the rows count as unread.
"""

from __future__ import annotations


class TailPin:
    def __init__(self) -> None:
        self.pinned = True
        self.unread = 0

    def rows_added(self, delta: int, *, at_end: bool) -> bool:
        """Record `delta` appended rows; True when the view should scroll to its end."""
        if delta <= 0:
            return False
        if self.pinned or at_end:
            self.unread = 0
            return True
        self.unread += delta
        return False

    def user_input(self) -> None:
        self.pinned = False

    def scrolled(self, *, at_end: bool) -> None:
        if at_end:
            self.unread = 0

    def jump_to_end(self) -> None:
        """The user asked for the tail: pin again and forget the unread rows."""
        self.pinned = True
        self.unread = 0

    def jump_to_top(self) -> None:
        self.pinned = False

    def reset(self) -> None:
        """The list was rebuilt (filter change, mirror discarded): start at the tail again."""
        self.pinned = True
        self.unread = 0
