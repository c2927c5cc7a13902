"""The ``tail`` verb in-process (``mirror.cli_tail.tail``) against a real embedded server, through
the TCP proxy that freezes sockets: the runtime's liveness probe notices a frozen socket and tail
dials again; a reset stream is one line on stderr and its new incarnation is printed from
offset 1. The verb's stdout and stderr are read through ``capsys``."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from mirror_support import Proxy, seed

from mirror.cli_tail import EXIT_GRACE_S, TailStart, tail, tail_start
from mirror.runtime_status import RuntimeTiming
from server.run import EmbeddedServer
from wire.stream_client import StreamClient

PATH = "/tail/test"
# A probe quick enough for a test; the rest are the runtime's defaults.
PROBING = RuntimeTiming(probe_interval=0.3, probe_deadline=2.0)


class Output:
    """What the verb printed so far (collected from ``capsys`` as the test waits)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self.out = ""
        self.err = ""

    def read(self) -> None:
        captured = self._capsys.readouterr()
        self.out += captured.out
        self.err += captured.err

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines()]

    def offsets(self) -> list[int]:
        return [int(event["offset"]) for event in self.events()]

    async def wait(self, condition: Callable[[Output], bool], seconds: float = 20.0) -> None:
        try:
            async with asyncio.timeout(seconds):
                while True:
                    self.read()
                    if condition(self):
                        return
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(
                f"never printed what was awaited; stdout {self.out[-500:]!r}, stderr {self.err!r}"
            ) from None


@contextlib.asynccontextmanager
async def running_tail(
    capsys: pytest.CaptureFixture[str], url: str, timing: RuntimeTiming = PROBING
) -> AsyncIterator[Output]:
    """``tail --after 0`` of ``PATH`` at ``url`` until the block ends (then it must exit 0)."""
    output = Output(capsys)
    stop = asyncio.Event()
    async with StreamClient(url, PATH) as client:
        verb = asyncio.ensure_future(tail(client, 0, stop, timing=timing))
        try:
            yield output
        finally:
            stop.set()
            code = await asyncio.wait_for(verb, 20)
            output.read()
    assert code == 0, output.err


async def head(client: StreamClient) -> tuple[str, int]:
    core = (await client.runtime_state())["coreProcessorState"]
    return str(core["createdAt"]), int(core["maxOffset"])


def cut(frozen: list[Any]) -> None:
    # The frozen socket dies at last: closing it does not wait out the WebSocket close timeout.
    for pipe in frozen:
        pipe.cut()


def printed_through(offset: int) -> Callable[[Output], bool]:
    return lambda output: offset in output.offsets()


def test_where_a_dial_starts_printing() -> None:
    first = tail_start(followed=None, last=None, incarnation="a", head=7)
    assert first == TailStart(7, reset=False)
    assert tail_start(followed=None, last=3, incarnation="a", head=7) == TailStart(3, reset=False)
    assert tail_start(followed="a", last=9, incarnation="a", head=7) == TailStart(9, reset=False)
    assert tail_start(followed="a", last=9, incarnation="b", head=40) == TailStart(0, reset=True)


async def test_a_frozen_socket_is_noticed_by_the_probe_and_tail_dials_again(
    server: EmbeddedServer, client: StreamClient, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(client, 5)
    async with Proxy(server.url) as proxy, running_tail(capsys, proxy.url) as output:
        await output.wait(printed_through((await head(client))[1]))
        frozen = proxy.freeze_websockets()  # deliveries stop; the socket never closes
        assert len(frozen) == 1
        committed = await client.append({"type": "test/while-frozen"})
        await output.wait(printed_through(committed["offset"]))
        cut(frozen)
    assert output.offsets() == list(range(1, output.offsets()[-1] + 1)), "no gap, no repeat"
    (retry,) = output.err.splitlines()
    assert retry.startswith("streamdesk: liveness probe: the subscription stalled (server at")
    assert retry.endswith("; retrying in 0.25 s")


async def test_a_half_open_network_is_noticed_by_unanswered_probes(
    server: EmbeddedServer, client: StreamClient, capsys: pytest.CaptureFixture[str]
) -> None:
    timing = RuntimeTiming(probe_interval=0.2, probe_deadline=0.3, step_deadline=1.0)
    async with Proxy(server.url) as proxy, running_tail(capsys, proxy.url, timing) as output:
        await output.wait(printed_through((await head(client))[1]))
        proxy.freeze_all()  # nothing answers, nothing closes
        await output.wait(lambda o: "2 times in a row" in o.err)
        proxy.thaw()
        committed = await client.append({"type": "test/after-thaw"})
        await output.wait(printed_through(committed["offset"]))
    assert output.err.splitlines()[0] == (
        "streamdesk: liveness probe failed: no answer within 0.3 s, 2 times in a row; "
        "retrying in 0.25 s"
    )
    assert output.offsets() == list(range(1, output.offsets()[-1] + 1)), "no gap, no repeat"


def split_at_reset(offsets: list[int]) -> tuple[list[int], list[int]]:
    """The offsets printed before the first one that starts over, and from it on."""
    for index in range(1, len(offsets)):
        if offsets[index] <= offsets[index - 1]:
            return offsets[:index], offsets[index:]
    return offsets, []


async def assert_new_incarnation_printed(output: Output, client: StreamClient) -> None:
    incarnation, _ = await head(client)
    resets = [line for line in output.err.splitlines() if "reset" in line]
    assert resets == [
        f"streamdesk: the stream was reset (new incarnation {incarnation}); "
        "following it from its start"
    ]
    before, after = split_at_reset(output.offsets())
    assert before == list(range(1, len(before) + 1))
    assert after == list(range(1, len(after) + 1)), "the new incarnation from offset 1 on"
    events = output.events()[len(before) :]
    on_server = await client.get_events(0, None, len(after))
    assert [(e["offset"], e["type"]) for e in events] == [
        (e["offset"], e["type"]) for e in on_server
    ]


async def test_a_reset_stream_is_one_line_and_printed_again_from_offset_1(
    server: EmbeddedServer, client: StreamClient, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(client, 20)
    async with running_tail(capsys, server.url) as output:
        await output.wait(printed_through((await head(client))[1]))
        await client.reset()  # the server closes the subscription's socket
        committed = await client.append_batch([{"type": "test/reborn"}] * 3)
        await output.wait(lambda o: bool(split_at_reset(o.offsets())[1]))
        await output.wait(lambda o: committed[-1]["offset"] in split_at_reset(o.offsets())[1])
    await assert_new_incarnation_printed(output, client)
    assert "streamdesk: the connection closed; retrying in 1.0 s" in output.err.splitlines()


async def test_a_reset_behind_a_frozen_socket_is_noticed_by_the_probe(
    server: EmbeddedServer, client: StreamClient, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(client, 20)
    async with Proxy(server.url) as proxy, running_tail(capsys, proxy.url) as output:
        await output.wait(printed_through((await head(client))[1]))
        frozen = proxy.freeze_websockets()  # the server's close of the old socket never arrives
        await client.reset()
        committed = await client.append_batch([{"type": "test/reborn"}] * 3)
        await output.wait(lambda o: committed[-1]["offset"] in split_at_reset(o.offsets())[1])
        cut(frozen)
    await assert_new_incarnation_printed(output, client)
    assert "retrying" not in output.err, "a reset dials again at once, with no retry line"


async def test_ending_does_not_wait_for_the_unsubscribe_of_a_frozen_socket(
    server: EmbeddedServer, client: StreamClient, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(client, 3)
    output = Output(capsys)
    stop = asyncio.Event()
    async with Proxy(server.url) as proxy, StreamClient(proxy.url, PATH) as tail_client:
        verb = asyncio.ensure_future(tail(tail_client, 0, stop, timing=PROBING))
        await output.wait(printed_through((await head(client))[1]))
        frozen = proxy.freeze_websockets()
        committed = await client.append({"type": "test/while-frozen"})
        # Printed by the next dial: the frozen one was dropped and its unsubscribe still waits.
        await output.wait(printed_through(committed["offset"]))
        stop.set()
        try:
            # Its unsubscribe deadline alone is 5 s: an exit within the grace is not waiting.
            code = await asyncio.wait_for(asyncio.shield(verb), EXIT_GRACE_S + 2)
        finally:
            cut(frozen)
            await asyncio.wait_for(verb, 20)
    assert code == 0
