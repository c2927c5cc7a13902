"""`streamdesk processor run` as a real subprocess against the embedded server: crash-resume
with side effects counted exactly once (inbound), and the stream re-dialing an outbound
processor after it was killed with SIGKILL."""

import asyncio
import os
import re
import signal
import socket
import sqlite3
import sys
from pathlib import Path

from processor_support import disconnect_reasons, of_type, outbound_connects, wait_for_events

from mirror.builtin_processors import CHECKPOINT_FILE_NAME
from mirror.builtin_processors.echo import INPUT, OUTPUT
from mirror.hosting.config import runner_subscription
from wire.stream_client import StreamClient

REPO = Path(__file__).resolve().parent.parent
PLACED = "app.order-placed"
CONFIRMED = "app.order-confirmed"


class ProcessorProcess:
    def __init__(self, *args: str) -> None:
        self.args = args
        self.process: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.cli", "processor", "run", *self.args,
            cwd=REPO, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        async for line in self.process.stderr:
            self.lines.append(line.decode(errors="replace"))

    async def wait_for_line(self, pattern: str, seconds: float = 20.0) -> re.Match[str]:
        async with asyncio.timeout(seconds):
            while True:
                for line in self.lines:
                    found = re.search(pattern, line)
                    if found:
                        return found
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        if self._reader is not None:
            await self._reader
        self.lines.clear()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


def stored_checkpoint(path: Path) -> int:
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT checkpoint_offset FROM processor_checkpoints").fetchone()
    return int(row[0]) if row else 0


async def test_crash_resume_counts_side_effects_exactly_once(
    embedded_server: str, tmp_path: Path
) -> None:
    checkpoints = tmp_path / "checkpoints.sqlite3"
    args = ("processor_example:OrderConfirmer", embedded_server, "/orders")
    processor = ProcessorProcess(*args, "--checkpoints", str(checkpoints))
    async with StreamClient(embedded_server, "/orders") as client:
        placed = await client.append_batch(
            [{"type": PLACED, "payload": {"amount": n}} for n in range(1, 151)]
        )
        try:
            await processor.start()
            # Deliveries come 100 events at a time: past 110 the first batch is checkpointed
            # and the kill lands inside the second one.
            await wait_for_events(client, lambda ev: len(of_type(ev, CONFIRMED)) >= 110, 30)
            await processor.kill()
            before_restart = len(of_type(await client.get_events(), CONFIRMED))
            checkpoint = stored_checkpoint(checkpoints)
            assert 0 < checkpoint < placed[-1]["offset"] and before_restart < 150
            await processor.start()
            resumed = await processor.wait_for_line(r"subscribed after offset (\d+)")
            assert int(resumed.group(1)) == checkpoint
            events = await wait_for_events(
                client, lambda ev: len(of_type(ev, CONFIRMED)) >= 150, 30
            )
        finally:
            await processor.stop()
        confirmed = of_type(events, CONFIRMED)
        assert len(confirmed) == 150
        assert [c["payload"]["orderOffset"] for c in confirmed] == [p["offset"] for p in placed]
        assert confirmed[-1]["payload"]["runningTotal"] == sum(range(1, 151))
        assert stored_checkpoint(checkpoints) == placed[-1]["offset"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_outbound_processor_is_redialed_after_sigkill(
    embedded_server: str, tmp_path: Path
) -> None:
    port = free_port()
    processor = ProcessorProcess(
        "processor_example:OrderConfirmer", embedded_server, "/outbound-orders",
        "--checkpoints", str(tmp_path / "checkpoints.sqlite3"),
        "--outbound", "--listen", f"127.0.0.1:{port}", "--key", "confirmer",
    )  # fmt: skip
    async with StreamClient(embedded_server, "/outbound-orders") as client:
        try:
            await processor.start()
            await wait_for_events(client, lambda ev: outbound_connects(ev, "confirmer") == 1, 20)
            await client.append_batch([{"type": PLACED, "payload": {"amount": 1}}] * 20)
            await wait_for_events(client, lambda ev: len(of_type(ev, CONFIRMED)) == 20, 20)
            await processor.kill()
            await wait_for_events(
                client, lambda ev: "rpc-broken" in disconnect_reasons(ev, "confirmer")
            )
            await processor.start()
            await processor.wait_for_line("listening on")
            # The restarted processor re-appends the same configuration (an idempotency hit);
            # the next domain append makes the stream re-dial it.
            await client.append_batch([{"type": PLACED, "payload": {"amount": 2}}] * 10)
            events = await wait_for_events(client, lambda ev: len(of_type(ev, CONFIRMED)) >= 30, 30)
        finally:
            await processor.stop()
        confirmed = of_type(events, CONFIRMED)
        assert len(confirmed) == 30
        assert len({c["payload"]["orderOffset"] for c in confirmed}) == 30
        assert confirmed[-1]["payload"]["runningTotal"] == 20 * 1 + 10 * 2
        assert outbound_connects(events, "confirmer") >= 2
        configured = of_type(events, "events.iterate.com/stream/subscription-configured")
        assert len(configured) == 1


async def test_streamdesk_serve_hosts_the_builtin_echo(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "serve", "--port", "0", "--data-dir", str(tmp_path),
        cwd=REPO, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert server.stderr is not None
    try:
        url = ""
        async with asyncio.timeout(30):
            while not url:
                line = (await server.stderr.readline()).decode()
                found = re.search(r"listening on (http://\S+)", line)
                url = found.group(1) if found else ""
        async with StreamClient(url, "/served") as client:
            await client.append(runner_subscription("echo-example", "echo"))
            await client.append({"type": INPUT, "payload": {}})
            events = await wait_for_events(client, lambda ev: bool(of_type(ev, OUTPUT)), 10)
        assert of_type(events, OUTPUT)[0]["payload"]["seen"] == 1
        assert (tmp_path / "processors" / CHECKPOINT_FILE_NAME).exists()
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.wait(), 20)
