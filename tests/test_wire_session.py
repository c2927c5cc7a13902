"""RpcSession (the asyncio driver) over an in-memory pipe: async served calls, futures, tasks,
cancellation, transport loss and send backpressure. Frame-level rules are in
test_wire_protocol.py; here every wait is on a real future or event, never a sleep."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from wire.errors import ConnectionClosed, RemoteError, RpcError
from wire.session import RemoteStub, RpcSession, RpcTarget

pytestmark = pytest.mark.timeout(30)

_CLOSED = object()


@dataclass
class End:
    """One end of an in-memory message pipe; records what it sent.

    `changed` (shared by both ends) is notified whenever a reader asks for the next message,
    which it does only once the previous one has been handled.
    """

    inbox: asyncio.Queue[Any]
    outbox: asyncio.Queue[Any]
    changed: asyncio.Condition
    sent: list[str] = field(default_factory=list)
    gate: asyncio.Event | None = None
    at_gate: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    handling: bool = False

    async def recv(self) -> str:
        self.handling = False
        async with self.changed:
            self.changed.notify_all()
        item = await self.inbox.get()
        if item is _CLOSED:
            self.inbox.put_nowait(_CLOSED)
            raise ConnectionError("pipe closed")
        self.handling = True
        return str(item)

    async def send(self, text: str) -> None:
        if self.gate is not None:
            self.at_gate.set()
            await self.gate.wait()
        if self.closed:
            raise ConnectionError("pipe closed")
        self.sent.append(text)
        self.outbox.put_nowait(text)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.inbox.put_nowait(_CLOSED)
            self.outbox.put_nowait(_CLOSED)

    def frames(self) -> list[Any]:
        return [orjson.loads(t) for t in self.sent]


def make_pipe() -> tuple[End, End]:
    q1: asyncio.Queue[Any] = asyncio.Queue()
    q2: asyncio.Queue[Any] = asyncio.Queue()
    changed = asyncio.Condition()
    return End(q1, q2, changed), End(q2, q1, changed)


async def run_over(session: RpcSession, end: End) -> BaseException:
    try:
        return await session.run(end.recv, end.send)
    finally:
        end.close()  # like a transport closing its socket when the session ends


@dataclass
class Pair:
    client: RpcSession
    server: RpcSession
    client_end: End
    server_end: End

    async def quiet(self) -> None:
        """Wait until every message sent either way has been handled and none is queued."""

        def idle() -> bool:
            return not any(
                end.handling or not end.inbox.empty() or session.protocol.has_output
                for end, session in ((self.client_end, self.client), (self.server_end, self.server))
            )

        async with self.client_end.changed:
            await asyncio.wait_for(self.client_end.changed.wait_for(idle), 5)


@asynccontextmanager
async def connected(
    main: object, client_main: object | None = None, *, gate: asyncio.Event | None = None
) -> AsyncIterator[Pair]:
    server_end, client_end = make_pipe()
    client_end.gate = gate
    server = RpcSession(main)
    client = RpcSession(client_main)
    tasks = [
        asyncio.create_task(run_over(server, server_end)),
        asyncio.create_task(run_over(client, client_end)),
    ]
    try:
        yield Pair(client, server, client_end, server_end)
    finally:
        client.close()
        server.close()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)


@asynccontextmanager
async def raw_peer(main: object | None = None) -> AsyncIterator[tuple[RpcSession, End]]:
    """A session whose peer is driven by hand: the test writes frames and reads replies."""
    session_end, peer = make_pipe()
    session = RpcSession(main)
    task = asyncio.create_task(run_over(session, session_end))
    try:
        yield session, peer
    finally:
        session.close()
        await asyncio.wait_for(task, 5)


async def next_frame(peer: End) -> Any:
    return orjson.loads(await asyncio.wait_for(peer.recv(), 5))


async def next_loop_turn() -> None:
    """Let other tasks run once (an async callback that really suspends)."""
    loop = asyncio.get_running_loop()
    turn = loop.create_future()
    loop.call_soon(turn.set_result, None)
    await turn


async def _await(awaitable: Any) -> Any:
    return await awaitable


class Counter(RpcTarget):
    def __init__(self) -> None:
        self.n = 0

    def inc(self, by: int = 1) -> int:
        self.n += by
        return self.n


class Api(RpcTarget):
    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.kept: RemoteStub | None = None

    def add(self, a: int, b: int) -> int:
        return a + b

    async def async_echo(self, value: Any) -> Any:
        await next_loop_turn()
        return value

    async def fail_later(self, message: str) -> None:
        await next_loop_turn()
        raise ValueError(message)

    def make_counter(self) -> Counter:
        return Counter()

    async def gated_counter(self) -> Counter:
        await self.gate.wait()
        return Counter()

    def record(self, value: Any) -> None:
        pass

    async def block(self) -> None:
        self.entered.set()
        await self.gate.wait()

    async def call_back(self, cb: RemoteStub, n: int) -> Any:
        for i in range(n):
            await cb.notify(i)
        result = await cb("done")
        cb.release()
        return result

    def keep(self, cb: RemoteStub) -> None:
        self.kept = cb

    async def call_kept(self, value: Any) -> Any:
        assert self.kept is not None
        return await self.kept(value)

    def release_kept(self) -> None:
        assert self.kept is not None
        self.kept.release()


async def test_async_served_calls_resolve_and_reject() -> None:
    async with connected(Api()) as p:
        main = p.client.main
        value = {"list": [1, [2, []]], "n": None}
        assert await main.async_echo(value) == value
        assert await main.add(2, 3) == 5
        with pytest.raises(RemoteError) as info:
            await main.fail_later("boom")
        assert (info.value.type, info.value.message) == ("Error", "boom")
        await p.quiet()
        assert p.client.stats() == {"imports": 0, "exports": 0}
        assert p.server.stats() == {"imports": 0, "exports": 0}


async def test_pipelined_calls_wait_for_a_result_still_being_computed() -> None:
    api = Api()
    async with connected(api) as p:
        counter = p.client.main.gated_counter()  # not awaited: only pushed
        first = counter.inc()
        second = counter.inc(10)
        await p.quiet()
        assert not api.gate.is_set() and p.server.stats()["exports"] == 3
        api.gate.set()
        assert await first == 1
        assert await second == 11
        counter.release()
        await p.quiet()
        assert p.server.stats() == {"imports": 0, "exports": 0}
        assert p.client.stats() == {"imports": 0, "exports": 0}


async def test_awaited_promise_cannot_be_pipelined_afterwards() -> None:
    async with connected(Api()) as p:
        promise = p.client.main.make_counter()
        counter = await promise
        assert isinstance(counter, RemoteStub)
        assert await counter.inc() == 1
        with pytest.raises(RpcError, match="already awaited or released"):
            promise.inc()
        counter.release()


async def test_callback_is_called_back_a_thousand_times_in_order() -> None:
    got: list[Any] = []

    def callback(value: Any) -> Any:
        got.append(value)
        return len(got)

    async with connected(Api()) as p:
        sent_before = len(p.client_end.sent)
        assert await p.client.main.call_back(callback, 1000) == 1001
        assert got == [*range(1000), "done"]
        await p.quiet()
        client_frames = p.client_end.frames()[sent_before:]
        # The notifications were never answered: the only traffic is the call itself.
        assert [f[0] for f in client_frames] == ["push", "pull", "resolve", "release"]
        assert p.client.stats() == {"imports": 0, "exports": 0}


async def test_async_callbacks_start_in_order() -> None:
    got: list[Any] = []

    async def callback(value: Any) -> None:
        got.append(value)
        await next_loop_turn()

    async with connected(Api()) as p:
        await p.client.main.call_back(callback, 200)
        assert got == [*range(200), "done"]


async def test_exported_stub_lives_until_the_peer_releases_it() -> None:
    async with connected(Api()) as p:
        await p.client.main.keep(lambda x: x + 1)
        assert p.client.stats()["exports"] == 1
        assert await p.client.main.call_kept(1) == 2
        assert await p.client.main.call_kept(2) == 3
        await p.client.main.release_kept()
        await p.quiet()
        assert p.client.stats()["exports"] == 0
        assert ["release", -1, 1] in p.server_end.frames()
        with pytest.raises(RpcError, match="already released"):
            await p.client.main.call_kept(3)


async def test_peer_promise_in_a_value_is_replaced_by_its_resolution() -> None:
    async with raw_peer() as (session, peer):
        task = asyncio.create_task(_await(session.main.get()))
        assert (await next_frame(peer))[0] == "push"
        assert await next_frame(peer) == ["pull", 1]
        await peer.send('["resolve",1,{"later":["promise",-1]}]')
        await peer.send('["resolve",-1,[["a"]]]')
        assert await asyncio.wait_for(task, 5) == {"later": ["a"]}
        releases = {tuple(await next_frame(peer)), tuple(await next_frame(peer))}
        assert releases == {("release", -1, 1), ("release", 1, 1)}


async def test_cancelled_await_releases_the_call() -> None:
    api = Api()
    async with connected(api) as p:
        pending = asyncio.create_task(_await(p.client.main.block()))
        await asyncio.wait_for(api.entered.wait(), 5)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        api.gate.set()
        assert await p.client.main.add(1, 2) == 3
        assert p.client_end.frames()[2:4] == [
            ["release", 1, 1],
            ["push", ["pipeline", 0, ["add"], [1, 2]]],
        ]
        await p.quiet()
        assert [f[0] for f in p.server_end.frames()] == ["resolve"]  # no answer to call 1
        assert p.client.stats() == {"imports": 0, "exports": 0}


async def test_transport_loss_fails_pending_calls_promptly() -> None:
    api = Api()
    async with connected(api) as p:
        pending = asyncio.create_task(_await(p.client.main.block()))
        await asyncio.wait_for(api.entered.wait(), 5)
        p.client_end.close()
        with pytest.raises(ConnectionClosed, match="pipe closed"):
            await asyncio.wait_for(pending, 2)
        reason = await asyncio.wait_for(p.client.closed, 2)
        assert isinstance(reason, ConnectionClosed)
        await asyncio.wait_for(p.server.closed, 2)
        with pytest.raises(ConnectionClosed):
            p.client.main.add(1, 2)
        with pytest.raises(ConnectionClosed):
            await p.client.main.record.notify(1)
        api.gate.set()


async def test_served_calls_finish_after_the_session_ends() -> None:
    started = asyncio.Event()
    gate = asyncio.Event()
    finished: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()

    class Slow(RpcTarget):
        async def work(self, cb: RemoteStub) -> str:
            started.set()
            await gate.wait()
            steps = ["work"]
            try:
                await cb("too late")
            except ConnectionClosed as exc:
                steps.append(type(exc).__name__)
            finished.set_result(steps)
            return "dropped"

    async with connected(Slow()) as p:
        pending = asyncio.create_task(_await(p.client.main.work(lambda v: v)))
        await asyncio.wait_for(started.wait(), 5)
        p.client_end.close()
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(pending, 2)
        await asyncio.wait_for(p.server.closed, 2)
        gate.set()
        assert await asyncio.wait_for(finished, 5) == ["work", "ConnectionClosed"]


async def test_local_close_fails_pending_calls() -> None:
    api = Api()
    async with connected(api) as p:
        pending = asyncio.create_task(_await(p.client.main.block()))
        await asyncio.wait_for(api.entered.wait(), 5)
        p.client.close()
        with pytest.raises(ConnectionClosed, match="closed"):
            await asyncio.wait_for(pending, 2)
        api.gate.set()


async def test_peer_abort_fails_pending_calls_with_its_message() -> None:
    async with raw_peer() as (session, peer):
        pending = asyncio.create_task(_await(session.main.anything()))
        await next_frame(peer)
        await peer.send('["abort",["error","Error","server is going away"]]')
        with pytest.raises(ConnectionClosed, match="server is going away"):
            await asyncio.wait_for(pending, 2)
        reason = await asyncio.wait_for(session.closed, 2)
        assert isinstance(reason, ConnectionClosed)
        assert reason.reason == RemoteError("Error", "server is going away")


async def test_sends_wait_for_a_slow_transport() -> None:
    gate = asyncio.Event()
    async with connected(Api(), gate=gate) as p:
        notify = asyncio.create_task(p.client.main.record.notify(1))
        await asyncio.wait_for(p.client_end.at_gate.wait(), 5)
        assert not notify.done()  # the transport has not taken the message yet
        gate.set()
        await asyncio.wait_for(notify, 2)


async def test_session_without_main_rejects_calls() -> None:
    async with connected(None) as p:
        with pytest.raises(RemoteError, match="no main object"):
            await p.client.main.anything()


async def test_stub_passed_back_to_its_owner_is_the_original_object() -> None:
    def marker() -> None:
        pass

    async with connected(Api()) as p:
        assert await p.client.main.async_echo(marker) is marker
