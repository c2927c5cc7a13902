"""The random event generator: the pure plan and events, and `streamdesk generate` as a real
subprocess against the embedded server (scenarios 4 / 56 of the reference: a bulk insert of 80
gives at least three random types; 19: 1,500 in batches of 250)."""

import asyncio
import os
import random
import signal
import sys
from pathlib import Path

import pytest

from mirror.event_generator import EVENT_TYPES, plan_batches, random_batch
from wire.stream_client import StreamClient

REPO = Path(__file__).resolve().parent.parent
TYPE_FIELDS = {
    "note-appended": {"actor", "body"},
    "tag-applied": {"actor", "tags"},
    "status-changed": {"from", "to"},
    "metric-recorded": {"metric", "unit", "value"},
    "ping-sent": {"message", "sequence"},
}
DEBUG_FIELDS = {"batchIndex", "batchSize", "count", "generatedAt", "index", "streamPath"}


def test_plan_spreads_batches_evenly() -> None:
    plan = plan_batches(250, 100, 5.0)
    assert plan.batches == 3 and plan.starts == (0.0, 2.5, 5.0)
    assert [plan.size_of(i) for i in range(3)] == [100, 100, 50]
    assert plan_batches(80, 80, 0).starts == (0.0,)
    assert plan_batches(0, 10, 1).batches == 0
    with pytest.raises(ValueError, match="batch size"):
        plan_batches(10, 0, 1)


def test_events_carry_type_fields_and_debug_fields() -> None:
    plan = plan_batches(200, 100, 0)
    events = random_batch(random.Random(7), plan, 1, "/p", "2026-01-01T00:00:00.000Z")
    assert len(events) == 100 and {e["type"] for e in events} == set(EVENT_TYPES)
    for number, event in enumerate(events, start=100):
        name = event["type"].rsplit("/", 1)[1]
        assert set(event["payload"]) == TYPE_FIELDS[name] | DEBUG_FIELDS
        assert event["payload"]["index"] == number and event["payload"]["batchIndex"] == 1


async def generate(url: str, path: str, *args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "generate", url, path, *args,
        cwd=REPO, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


@pytest.mark.parametrize(("count", "batch"), [(80, 80), (1500, 250)])
async def test_generate_appends_count_events(embedded_server: str, count: int, batch: int) -> None:
    process = await generate(
        embedded_server, "/gen", "--count", str(count), "--batch", str(batch), "--seconds", "0"
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr
    assert f"generated {count}/{count} events" in stderr.decode()
    async with StreamClient(embedded_server, "/gen") as client:
        events = await client.get_events()
    random_types = {e["type"] for e in events if e["type"] in EVENT_TYPES}
    assert len(events) == count + 2 and len(random_types) >= 3


async def test_generate_stops_cleanly_on_ctrl_c(embedded_server: str) -> None:
    process = await generate(
        embedded_server, "/gen-stop", "--count", "1000", "--batch", "10", "--seconds", "30"
    )
    assert process.stderr is not None
    first = b""
    while b"generated" not in first:
        first = await asyncio.wait_for(process.stderr.readline(), 30)
    assert b"generated 10/1000" in first
    process.send_signal(signal.SIGINT)
    await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0
    async with StreamClient(embedded_server, "/gen-stop") as client:
        generated = [e for e in await client.get_events() if e["type"] in EVENT_TYPES]
    assert 10 <= len(generated) < 1000 and len(generated) % 10 == 0
