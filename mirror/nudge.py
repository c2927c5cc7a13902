"""Nudge after an own append (client-runtime.md §2.7): instead of waiting up to 10 s for the
liveness probe, the runtime checks its subscription right after an append it made itself.

Pure decision, `decide_nudge`, plus `nudge_after_append`, the small async helper a runtime
calls with its own probes. The runtime's one call, after `append`/`appendBatch` returned the
committed events (offset N of the last one):

    await nudge_after_append(
        appended_offset=N,
        delivered_offset=lambda: <highest offset delivered to this subscription>,
        server_state=lambda: <runtimeState()["coreProcessorState"], with the 5 s deadline>,
        incarnation=<createdAt the mirror holds>,
        resubscribe=lambda: <schedule a reconnect with delay 0 (ReconnectCause.NUDGE)>,
    )
"""

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

logger = logging.getLogger(__name__)

NUDGE_GRACE_SECONDS: Final = 2.0


class NudgeAction(enum.Enum):
    NOTHING = "nothing"
    """Delivered up to the server head already: the subscription is live."""
    WAIT = "wait"
    """Same incarnation, head ahead of deliveries: give the delivery a grace period."""
    RESUBSCRIBE = "resubscribe"
    """Stale: another incarnation, the probe failed, or nothing arrived in the grace period."""


def decide_nudge(
    *,
    subscribed: bool,
    delivered_offset: int,
    server_max_offset: int | None,
    server_incarnation: str | None,
    local_incarnation: str | None,
    waited: bool,
) -> NudgeAction:
    """`server_*` None = the state read failed. `waited`: this is the check after the grace."""
    if not subscribed:
        return NudgeAction.NOTHING
    if server_max_offset is None or server_incarnation != local_incarnation:
        return NudgeAction.RESUBSCRIBE
    if delivered_offset >= server_max_offset:
        return NudgeAction.NOTHING
    return NudgeAction.RESUBSCRIBE if waited else NudgeAction.WAIT


async def nudge_after_append(
    *,
    appended_offset: int,
    delivered_offset: Callable[[], int],
    server_state: Callable[[], Awaitable[dict[str, Any]]],
    incarnation: str | None,
    resubscribe: Callable[[], object],
    subscribed: bool = True,
    grace: float = NUDGE_GRACE_SECONDS,
) -> NudgeAction:
    """Check the subscription after an own append; returns the action taken."""
    if delivered_offset() >= appended_offset:
        return NudgeAction.NOTHING
    waited = False
    while True:
        try:
            state = await server_state()
            head: int | None = state["maxOffset"]
            created_at: str | None = state["createdAt"]
        except Exception as exc:
            logger.info("nudge: reading the stream state failed: %s", exc)
            head, created_at = None, None
        action = decide_nudge(
            subscribed=subscribed,
            delivered_offset=delivered_offset(),
            server_max_offset=head,
            server_incarnation=created_at,
            local_incarnation=incarnation,
            waited=waited,
        )
        if action is NudgeAction.WAIT:
            await asyncio.sleep(grace)
            waited = True
            continue
        if action is NudgeAction.RESUBSCRIBE:
            logger.info("nudge: subscription is stale after an own append; resubscribing")
            resubscribe()
        return action
