"""Big events as rows show them: a bounded value (``mirror.event_bounded``) pretty-printed with
a note per cut string above it, so an expansion never holds or paints a whole 20 MB event."""

from __future__ import annotations

from mirror.event_bounded import BoundedEvent
from ui.find_labels import byte_size, cut_note
from ui.json_text import PrettyJson, prepare_pretty_json, pretty_json_value, pretty_lines

MAX_LINES = 2000
WHOLE_EVENT_HINT = "Right-click the row to copy it all, save it to a file or open it in a viewer."


def bounded_pretty(event: BoundedEvent, *, max_lines: int = MAX_LINES) -> PrettyJson:
    if event.text is not None:
        return prepare_pretty_json(event.text, max_lines=max_lines)
    notes = [f"{byte_size(event.size)} event, shown in part. {WHOLE_EVENT_HINT}"]
    notes.extend(cut_note(cut.path, cut.size, cut.shown) for cut in event.cuts)
    if event.nodes_cut:
        notes.append("Only the first values are shown.")
    return pretty_lines(pretty_json_value(event.value), max_lines=max_lines, notes=tuple(notes))
