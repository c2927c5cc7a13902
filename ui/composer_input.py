"""Checking the composer's text before anything is sent, and its idempotency keys (pure)."""

from __future__ import annotations

import json
import uuid
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


IDEMPOTENCY_KEY_PREFIX = "streamdesk:"


class DraftKeys:
    """The idempotency key of the draft being appended.

    A draft keeps its key until an append of it succeeds, so a retry after a lost answer
    cannot append it twice. An edited draft is another event and gets a new key: reusing the
    old one would return the first version if that one had been stored after all. Events that
    carry their own `idempotencyKey` are sent as they are.
    """

    def __init__(self) -> None:
        self._draft: str | None = None
        self._key: str | None = None

    def stamp(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event to send: with this draft's key when it has none of its own."""
        if "idempotencyKey" in event:
            return event
        draft = json.dumps(event, sort_keys=True)
        if draft != self._draft or self._key is None:
            self._draft = draft
            self._key = f"{IDEMPOTENCY_KEY_PREFIX}{uuid.uuid4()}"
        return {**event, "idempotencyKey": self._key}

    def appended(self) -> None:
        """The last stamped draft is stored: the next append is a new event."""
        self._draft = None
        self._key = None
