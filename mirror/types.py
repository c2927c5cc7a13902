"""The event and delivery types every mirror module shares (defined once, here).

Public API:

- ``Event``: one committed stream event as decoded JSON (``offset``, ``type``, ``createdAt``,
  ``payload``, ...). Read-only: nothing in the mirror changes an event it was given.
- ``Events``: a run of events in increasing offset order (a page, a batch, a transaction).
- ``Delivery``: one batch a subscription delivered, as the wire decoded it: ``events``,
  ``state`` (the stream's core state, whose ``createdAt`` names the incarnation) and
  ``streamMaxOffset``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Event = Mapping[str, Any]
Events = Sequence[Event]
Delivery = Mapping[str, Any]
