"""Types the server's modules share: ``Event``, one stored or incoming event as a JSON object."""

from __future__ import annotations

from typing import Any

Event = dict[str, Any]
