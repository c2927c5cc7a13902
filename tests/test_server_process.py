"""The server as a process (`python -m server`): durability across restarts, clean shutdown on
signals, the startup line, the wide-bind warning and the data-directory lock."""

import signal
from pathlib import Path

import pytest
from conftest import ServerProcess
from server_support import CONNECTED, CREATED, DISCONNECTED, WOKEN, Batches, types_of

from wire.stream_client import StreamClient


async def test_streams_survive_a_restart(server_process: ServerProcess) -> None:
    async with StreamClient(server_process.url, "/durable/a") as client:
        big = "y" * (700 * 1024)
        await client.append_batch([{"type": "test.a", "idempotencyKey": "a"}, {"type": "test.b"}])
        await client.append({"type": "test.big", "payload": big})
        batches = Batches()
        subscription = await client.subscribe(batches, replay_after_offset=0)
        await batches.wait_for_offset(6)
        before = (await client.runtime_state())["coreProcessorState"]

    assert server_process.stop() == 0
    await subscription.closed
    assert len(list((server_process.data_dir / "server" / "streams").glob("*.sqlite3"))) == 3
    url = server_process.start()

    async with StreamClient(url, "/durable/a") as client:
        events = await client.get_events()
        # Shutting down broke the subscriber's session; the restart woke a new incarnation.
        assert types_of(events) == [
            *[CREATED, WOKEN, "test.a", "test.b", "test.big"],
            *[CONNECTED, DISCONNECTED, WOKEN],
        ]
        assert events[6]["payload"]["reason"] == "rpc-broken"
        assert events[4]["payload"] == big
        after = (await client.runtime_state())["coreProcessorState"]
        assert after["createdAt"] == before["createdAt"]
        assert after["incarnationId"] != before["incarnationId"]
        assert after["connectionsByKey"] == {}
        assert (await client.append({"type": "test.a", "idempotencyKey": "a"}))["offset"] == 3
        assert (await client.append({"type": "test.c"}))["offset"] == 9
    async with StreamClient(url, "/") as root:
        assert (await root.runtime_state())["coreProcessorState"]["childPaths"] == ["/durable"]


def test_sigint_shuts_down_cleanly(server_process: ServerProcess) -> None:
    assert server_process.stop(signal.SIGINT) == 0
    log = "".join(server_process.output)
    assert "Streamdesk stream server listening on http://127.0.0.1:" in log
    assert "Streamdesk stream server stopped" in log


def test_wide_bind_without_token_warns(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "wide", "--host", "0.0.0.0")
    server.start()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert any("without a token" in line for line in server.output)
    finally:
        assert server.stop() == 0
    guarded = ServerProcess(tmp_path / "wide", "--host", "0.0.0.0", env={"STREAMDESK_TOKEN": "t"})
    guarded.start()
    try:
        assert not any("without a token" in line for line in guarded.output)
        assert not any("STREAMDESK_TOKEN" in line or " t\n" in line for line in guarded.output)
    finally:
        guarded.stop()


def test_second_server_on_the_same_data_dir_refuses(server_process: ServerProcess) -> None:
    second = ServerProcess(server_process.data_dir)
    with pytest.raises(RuntimeError, match="did not start"):
        second.start(timeout=20)
    assert second.returncode == 1
    assert any("already using the data directory" in line for line in second.output)


def test_evict_idle_after_must_be_a_positive_number_of_seconds(tmp_path: Path) -> None:
    for value in ("0", "-5", "soon"):
        server = ServerProcess(tmp_path / "data", "--evict-idle-after", value)
        with pytest.raises(RuntimeError, match="did not start"):
            server.start(timeout=20)
        assert server.returncode == 2
        assert any("--evict-idle-after" in line for line in server.output)
