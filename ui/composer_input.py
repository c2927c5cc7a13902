"""Checking the composer's text before anything is sent (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DEFAULT_COMPOSER_TEXT = """{
  "type": "events.iterate.com/debug/manual-event",
  "payload": {
    "message": "hello from the desktop composer"
  }
}"""


@dataclass(frozen=True)
class ComposerVerdict:
    """Either the event to append or the reason nothing may be sent."""

    event: dict[str, Any] | None
    error: str | None


def check_composer_text(text: str) -> ComposerVerdict:
    """Parse the composer's text into one event, or explain why it is not one."""
    if not text.strip():
        return ComposerVerdict(None, "Nothing to append: the editor is empty.")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        return ComposerVerdict(
            None, f"Invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}."
        )
    if not isinstance(value, dict):
        return ComposerVerdict(None, "An event must be a JSON object.")
    event_type = value.get("type")
    if not isinstance(event_type, str) or not event_type.strip():
        return ComposerVerdict(None, 'An event needs a non-empty string "type".')
    return ComposerVerdict(value, None)
