"""The stream the first start opens: a short, clearly named sample on the embedded server, so
a new user sees events, the feed and the state at once (delete it with Stream › Reset, and its
mirror with Tools › Local mirrors…)."""

from __future__ import annotations

from typing import Any

from ui.ports import RuntimeLike

SAMPLE_PATH = "/streamdesk-sample"
_TYPE = "events.iterate.com/sample"

SAMPLE_EVENTS: tuple[dict[str, Any], ...] = (
    {
        "type": f"{_TYPE}/welcome",
        "payload": {"text": "This is a sample stream the first start of Streamdesk made."},
    },
    {"type": f"{_TYPE}/order-placed", "payload": {"order": 1001, "items": 2, "total": 38.5}},
    {"type": f"{_TYPE}/order-paid", "payload": {"order": 1001, "method": "card"}},
    {"type": f"{_TYPE}/order-shipped", "payload": {"order": 1001, "carrier": "post"}},
    {
        "type": f"{_TYPE}/tip",
        "payload": {
            "text": "Append your own event with the composer below (Ctrl+Enter); "
            "Stream › Reset… empties this stream."
        },
    },
)


async def fill_sample(runtime: RuntimeLike) -> None:
    """Append the sample events (once: the first start calls it on a new data directory)."""
    for event in SAMPLE_EVENTS:
        await runtime.append(dict(event))
