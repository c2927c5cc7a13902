"""The runtime's nudge after its own append: a subscription that went silent (its socket frozen
by a proxy, nothing closed) is noticed right after the append, not at the next liveness probe."""

from __future__ import annotations

from pathlib import Path

import pytest
from mirror_support import Proxy, assert_mirror_matches_server, open_registry, seed, wait_status

from mirror.runtime import RuntimeTiming
from server.run import EmbeddedServer
from wire.stream_client import StreamClient

PATH = "/nudge/runtime"
pytestmark = pytest.mark.timeout(60)
# A probe far away: only the nudge can notice within the test.
TIMING = RuntimeTiming(catchup_page=500, election_poll=0.05, probe_interval=600.0)


async def test_an_own_append_on_a_silent_subscription_resubscribes(
    tmp_path: Path, server: EmbeddedServer
) -> None:
    async with (
        StreamClient(server.url, PATH) as client,
        Proxy(server.url) as proxy,
        open_registry(tmp_path / "d", TIMING) as registry,
    ):
        await seed(client, 50)
        runtime = registry.acquire(proxy.url, "default", PATH)
        runtime.retain()
        head = int((await client.runtime_state())["coreProcessorState"]["maxOffset"])
        await wait_status(runtime, lambda s: s.connection == "subscribed" and s.event_count >= head)
        frozen = proxy.freeze_websockets()
        assert frozen, "the subscription runs over the proxy"
        committed = await runtime.append({"type": "test/nudged", "payload": {}})
        await wait_status(runtime, lambda s: s.event_count >= committed["offset"], 15)
        for pipe in frozen:
            pipe.frozen.set()  # so the stale socket closes quickly on the way out
        reasons = [record.reason for record in runtime.reconnect_history]
        assert any(reason.startswith("nudge:") for reason in reasons), reasons
        await assert_mirror_matches_server(runtime, client, through=committed["offset"])


async def test_a_live_subscription_is_left_alone_after_an_own_append(
    tmp_path: Path, server: EmbeddedServer
) -> None:
    async with (
        StreamClient(server.url, PATH) as client,
        open_registry(tmp_path / "d", TIMING) as registry,
    ):
        runtime = registry.acquire(server.url, "default", PATH)
        runtime.retain()
        await wait_status(runtime, lambda s: s.connection == "subscribed")
        for i in range(5):
            committed = await runtime.append({"type": "test/fine", "payload": {"i": i}})
        await wait_status(runtime, lambda s: s.event_count >= committed["offset"])
        assert not [r for r in runtime.reconnect_history if r.reason.startswith("nudge:")]
        await assert_mirror_matches_server(runtime, client, through=committed["offset"])


async def test_append_batch_commits_all_in_order_and_nudges_a_silent_subscription(
    tmp_path: Path, server: EmbeddedServer
) -> None:
    async with (
        StreamClient(server.url, PATH) as client,
        Proxy(server.url) as proxy,
        open_registry(tmp_path / "d", TIMING) as registry,
    ):
        runtime = registry.acquire(proxy.url, "default", PATH)
        runtime.retain()
        await wait_status(runtime, lambda s: s.connection == "subscribed")
        frozen = proxy.freeze_websockets()
        committed = await runtime.append_batch(
            [{"type": "test/batch", "payload": {"i": i}} for i in range(20)]
        )
        offsets = [event["offset"] for event in committed]
        assert offsets == list(range(offsets[0], offsets[0] + 20))
        assert [event["payload"]["i"] for event in committed] == list(range(20))
        await wait_status(runtime, lambda s: s.event_count >= offsets[-1], 15)
        for pipe in frozen:
            pipe.frozen.set()
        assert any(r.reason.startswith("nudge:") for r in runtime.reconnect_history)
        await assert_mirror_matches_server(runtime, client, through=offsets[-1])
