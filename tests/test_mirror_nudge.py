"""Nudge after an own append: the pure decision and the helper against a real server, with a
subscription that keeps up and one that was dropped (so deliveries stop for real)."""

import asyncio
from typing import Any

from mirror.nudge import NudgeAction, decide_nudge, nudge_after_append
from wire.stream_client import StreamClient


def test_decisions() -> None:
    base: dict[str, Any] = {
        "subscribed": True,
        "server_incarnation": "c1",
        "local_incarnation": "c1",
        "waited": False,
    }
    assert decide_nudge(**base, delivered_offset=5, server_max_offset=5) is NudgeAction.NOTHING
    assert decide_nudge(**base, delivered_offset=4, server_max_offset=5) is NudgeAction.WAIT
    after_wait = {**base, "waited": True}
    assert (
        decide_nudge(**after_wait, delivered_offset=4, server_max_offset=5)
        is NudgeAction.RESUBSCRIBE
    )
    assert (
        decide_nudge(**base, delivered_offset=4, server_max_offset=None) is NudgeAction.RESUBSCRIBE
    )
    other = {**base, "server_incarnation": "c2"}
    assert decide_nudge(**other, delivered_offset=9, server_max_offset=3) is NudgeAction.RESUBSCRIBE
    follower = {**base, "subscribed": False}
    assert decide_nudge(**follower, delivered_offset=0, server_max_offset=9) is NudgeAction.NOTHING


async def test_nudge_on_a_live_and_on_a_dead_subscription(embedded_server: str) -> None:
    async with StreamClient(embedded_server, "/nudge") as client:
        delivered = [0]

        def on_batch(batch: dict[str, Any]) -> None:
            if batch["events"]:
                delivered[0] = batch["events"][-1]["offset"]

        async def state() -> dict[str, Any]:
            core: dict[str, Any] = (await client.runtime_state())["coreProcessorState"]
            return core

        subscription = await client.subscribe(on_batch, replay_after_offset=0)
        incarnation = (await state())["createdAt"]
        resubscribed: list[bool] = []
        live = await client.append({"type": "test.live", "payload": {}})
        action = await nudge_after_append(
            appended_offset=live["offset"],
            delivered_offset=lambda: delivered[0],
            server_state=state,
            incarnation=incarnation,
            resubscribe=lambda: resubscribed.append(True),
            grace=0.5,
        )
        assert action is NudgeAction.NOTHING and resubscribed == []
        assert delivered[0] >= live["offset"]
        await subscription.aclose()
        await asyncio.wait_for(subscription.closed, 5)
        dead = await client.append({"type": "test.dead", "payload": {}})
        action = await nudge_after_append(
            appended_offset=dead["offset"],
            delivered_offset=lambda: delivered[0],
            server_state=state,
            incarnation=incarnation,
            resubscribe=lambda: resubscribed.append(True),
            grace=0.2,
        )
        assert action is NudgeAction.RESUBSCRIBE and resubscribed == [True]
