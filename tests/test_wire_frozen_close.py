"""Closing a subscription whose peer stopped answering (a real socket frozen by the test proxy):
a closer that is cancelled, or runs out of its deadline, drops the socket at once instead of
waiting out the WebSocket closing handshake (10 s by default), and stays cancelled."""

from __future__ import annotations

import asyncio

import pytest
from mirror_support import Proxy

from server.run import EmbeddedServer
from wire.stream_client import StreamClient, Subscription

PATH = "/wire/frozen-close"
# Far below the closing handshake's 10 s: finishing within it means nothing waited for it.
PROMPT_S = 2.0


async def frozen_subscription(proxy: Proxy) -> tuple[Subscription, list[object]]:
    async with StreamClient(proxy.url, PATH) as client:
        subscription = await client.subscribe(lambda _: None, replay_after_offset=0)
    frozen: list[object] = list(proxy.freeze_websockets())
    assert len(frozen) == 1
    return subscription, frozen


async def test_an_unsubscribe_past_its_deadline_drops_a_frozen_socket(
    server: EmbeddedServer,
) -> None:
    async with Proxy(server.url) as proxy:
        subscription, _ = await frozen_subscription(proxy)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await subscription.unsubscribe()
        await asyncio.wait_for(asyncio.shield(subscription.closed), PROMPT_S)
        assert loop.time() - started < PROMPT_S


async def test_a_cancelled_close_drops_a_frozen_socket_and_stays_cancelled(
    server: EmbeddedServer,
) -> None:
    async with Proxy(server.url) as proxy:
        subscription, _ = await frozen_subscription(proxy)
        closing = asyncio.ensure_future(subscription.aclose())
        await asyncio.sleep(0.2)
        assert not closing.done(), "the closing handshake waits for the frozen peer"
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(closing, PROMPT_S)
        assert closing.cancelled()
        await asyncio.wait_for(asyncio.shield(subscription.closed), PROMPT_S)


async def test_a_close_nobody_cancels_still_ends_normally(server: EmbeddedServer) -> None:
    async with StreamClient(server.url, PATH) as client:
        subscription = await client.subscribe(lambda _: None, replay_after_offset=0)
        await asyncio.wait_for(subscription.unsubscribe(), PROMPT_S)
        assert subscription.closed.done()
