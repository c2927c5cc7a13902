"""RpcSession over an in-memory pipe: calls, pipelining, callbacks, refcounts, abort, bad input."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from wire.codec import UNDEFINED
from wire.errors import ConnectionClosed, MessageTooLarge, ProtocolError, RemoteError, RpcError
from wire.session import RemoteStub, RpcSession, RpcTarget

pytestmark = pytest.mark.timeout(30)

_CLOSED = object()


@dataclass
class End:
    """One end of an in-memory message pipe; records what it sent."""

    inbox: asyncio.Queue[Any]
    outbox: asyncio.Queue[Any]
    sent: list[str] = field(default_factory=list)
    gate: asyncio.Event | None = None
    closed: bool = False

    async def recv(self) -> str:
        item = await self.inbox.get()
        if item is _CLOSED:
            self.inbox.put_nowait(_CLOSED)
            raise ConnectionError("pipe closed")
        return str(item)

    async def send(self, text: str) -> None:
        if self.gate is not None:
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
    return End(q1, q2), End(q2, q1)


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
    tasks: list[asyncio.Task[BaseException]]


@asynccontextmanager
async def connected(main: object, client_main: object | None = None) -> AsyncIterator[Pair]:
    server_end, client_end = make_pipe()
    server = RpcSession(main)
    client = RpcSession(client_main)
    tasks = [
        asyncio.create_task(run_over(server, server_end)),
        asyncio.create_task(run_over(client, client_end)),
    ]
    try:
        yield Pair(client, server, client_end, server_end, tasks)
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


class Counter(RpcTarget):
    def __init__(self) -> None:
        self.n = 0
        self.secret = "instance attributes are not reachable"

    def inc(self, by: int = 1) -> int:
        self.n += by
        return self.n


class Api(RpcTarget):
    def __init__(self) -> None:
        self.received: list[Any] = []
        self.blocker = asyncio.Event()
        self.kept: RemoteStub | None = None

    def add(self, a: int, b: int) -> int:
        return a + b

    async def slow_echo(self, value: Any) -> Any:
        await asyncio.sleep(0.01)
        return value

    def fail(self, message: str) -> None:
        raise ValueError(message)

    def fail_type(self) -> None:
        raise TypeError("wrong type")

    def repeat(self, text: str, n: int) -> str:
        return text * n

    def make_counter(self) -> Counter:
        return Counter()

    def record(self, value: Any) -> None:
        self.received.append(value)

    async def block(self) -> None:
        await self.blocker.wait()

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

    def give_function(self) -> Any:
        return lambda x: x * 3

    def _private(self) -> str:
        return "never"


async def test_calls_return_decoded_values_and_errors() -> None:
    async with connected(Api()) as p:
        main = p.client.main
        assert await main.add(2, 3) == 5
        value = {"list": [1, [2, []]], "u": UNDEFINED, "n": None}
        assert await main.slow_echo(value) == value
        with pytest.raises(RemoteError) as info:
            await main.fail("boom")
        assert (info.value.type, info.value.message) == ("Error", "boom")
        with pytest.raises(RemoteError) as info:
            await main.fail_type()
        assert info.value.type == "TypeError"
        rejects = [f for f in p.server_end.frames() if f[0] == "reject"]
        assert rejects[0][2] == ["error", "Error", "boom"]  # no stack on the wire
        assert p.client.stats() == {"imports": 0, "exports": 0}
        await asyncio.sleep(0.01)
        assert p.server.stats() == {"imports": 0, "exports": 0}


async def test_call_frames_follow_push_pull_resolve_release() -> None:
    async with connected(Api()) as p:
        assert await p.client.main.add(1, 2) == 3
        await asyncio.sleep(0.01)
        assert p.client_end.frames() == [
            ["push", ["pipeline", 0, ["add"], [1, 2]]],
            ["pull", 1],
            ["release", 1, 1],
        ]
        assert p.server_end.frames() == [["resolve", 1, 3]]


async def test_private_and_missing_methods_and_instance_attributes_are_unreachable() -> None:
    async with connected(Api()) as p:
        with pytest.raises(RemoteError, match="no method named 'nope'"):
            await p.client.main.nope()
        with pytest.raises(RemoteError, match="no method named '_private'"):
            await p.client.main["_private"]()
        counter = p.client.main.make_counter()
        with pytest.raises(RemoteError, match="no method named 'secret'"):
            await counter.secret()
        counter.release()


async def test_pipelined_call_on_a_pending_result_needs_one_round_trip() -> None:
    async with connected(Api()) as p:
        counter = p.client.main.make_counter()  # not awaited: only pushed
        first = counter.inc()
        second = counter.inc(10)
        assert await first == 1
        assert await second == 11
        assert p.client_end.frames()[:3] == [
            ["push", ["pipeline", 0, ["make_counter"], []]],
            ["push", ["pipeline", 1, ["inc"], []]],
            ["push", ["pipeline", 1, ["inc"], [10]]],
        ]
        counter.release()
        await asyncio.sleep(0.01)
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
        client_frames = p.client_end.frames()[sent_before:]
        # The notifications were never answered: the only traffic is the call itself.
        assert [f[0] for f in client_frames] == ["push", "pull", "resolve", "release"]
        await asyncio.sleep(0.01)
        assert p.client.stats() == {"imports": 0, "exports": 0}


async def test_async_callbacks_start_in_order() -> None:
    got: list[int] = []

    async def callback(value: Any) -> None:
        got.append(value)
        await asyncio.sleep(0)

    async with connected(Api()) as p:
        await p.client.main.call_back(callback, 200)
        assert got == [*range(200), "done"]


async def test_exported_stub_lives_until_the_peer_releases_it() -> None:
    api = Api()
    async with connected(api) as p:
        await p.client.main.keep(lambda x: x + 1)
        assert p.client.stats()["exports"] == 1
        assert await p.client.main.call_kept(1) == 2
        assert await p.client.main.call_kept(2) == 3
        await p.client.main.release_kept()
        await asyncio.sleep(0.01)
        assert p.client.stats()["exports"] == 0
        assert ["release", -1, 1] in p.server_end.frames()
        with pytest.raises(RpcError, match="already released"):
            await p.client.main.call_kept(3)


async def test_returned_function_is_callable_many_times() -> None:
    async with connected(Api()) as p:
        triple = await p.client.main.give_function()
        assert [await triple(i) for i in range(3)] == [0, 3, 6]
        triple.release()
        await asyncio.sleep(0.01)
        assert p.server.stats() == {"imports": 0, "exports": 0}


async def test_release_carries_the_number_of_introductions() -> None:
    async with raw_peer() as (session, peer):
        promise = session.main.get_two()
        assert await next_frame(peer) == ["push", ["pipeline", 0, ["get_two"], []]]
        task = asyncio.create_task(_await(promise))
        assert await next_frame(peer) == ["pull", 1]
        peer.sent.clear()
        await peer.send('["resolve",1,[[["export",-1],["export",-1]]]]')
        first, second = await task
        assert await next_frame(peer) == ["release", 1, 1]
        assert first.import_id == second.import_id == -1
        first.release()
        first.release()  # releasing one reference twice counts once
        second_call = second("x")
        assert await next_frame(peer) == ["push", ["pipeline", -1, [], ["x"]]]
        second_call.release()
        assert await next_frame(peer) == ["release", 2, 1]
        second.release()
        assert await next_frame(peer) == ["release", -1, 2]
        assert session.stats() == {"imports": 0, "exports": 0}


async def _await(awaitable: Any) -> Any:
    return await awaitable


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


async def test_notify_sends_push_and_release_and_gets_no_reply() -> None:
    api = Api()
    async with connected(api) as p:
        await p.client.main.record.notify({"x": [1]})
        await p.client.main.record.notify(2)
        assert await p.client.main.add(1, 1) == 2
        assert api.received == [{"x": [1]}, 2]
        assert p.client_end.frames()[:4] == [
            ["push", ["pipeline", 0, ["record"], [{"x": [[1]]}]]],
            ["release", 1, 1],
            ["push", ["pipeline", 0, ["record"], [2]]],
            ["release", 2, 1],
        ]
        assert [f[0] for f in p.server_end.frames()] == ["resolve"]


async def test_unobserved_failure_is_logged_not_sent(caplog: pytest.LogCaptureFixture) -> None:
    async with connected(Api()) as p:
        with caplog.at_level(logging.WARNING, logger="wire.session"):
            await p.client.main.fail.notify("quiet")
            assert await p.client.main.add(0, 0) == 0
        assert [f[0] for f in p.server_end.frames()] == ["resolve"]
        assert "quiet" in caplog.text


async def test_cancelled_await_releases_the_call() -> None:
    api = Api()
    async with connected(api) as p:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(p.client.main.block(), 0.05)
        await asyncio.sleep(0.01)
        assert p.client_end.frames()[-1] == ["release", 1, 1]
        api.blocker.set()
        assert await p.client.main.add(1, 2) == 3
        assert [f[0] for f in p.server_end.frames()] == ["resolve"]  # no answer to call 1
        assert p.client.stats() == {"imports": 0, "exports": 0}


async def test_transport_loss_fails_pending_calls_promptly() -> None:
    api = Api()
    async with connected(api) as p:
        pending = asyncio.create_task(_await(p.client.main.block()))
        await asyncio.sleep(0.01)
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
        api.blocker.set()


async def test_served_calls_finish_after_the_session_ends() -> None:
    finished: list[Any] = []

    class Slow(RpcTarget):
        async def work(self, cb: RemoteStub) -> str:
            await asyncio.sleep(0.05)
            finished.append("work")
            try:
                await cb("too late")
            except ConnectionClosed as exc:
                finished.append(type(exc).__name__)
            return "dropped"

    async with connected(Slow()) as p:
        pending = asyncio.create_task(_await(p.client.main.work(lambda v: v)))
        await asyncio.sleep(0.01)
        p.client_end.close()
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(pending, 2)
        for _ in range(100):
            if len(finished) == 2:
                break
            await asyncio.sleep(0.01)
        assert finished == ["work", "ConnectionClosed"]


async def test_local_close_fails_pending_calls() -> None:
    async with connected(Api()) as p:
        pending = asyncio.create_task(_await(p.client.main.block()))
        await asyncio.sleep(0.01)
        p.client.close()
        with pytest.raises(ConnectionClosed, match="closed"):
            await asyncio.wait_for(pending, 2)


async def test_peer_abort_ends_the_session_with_its_message() -> None:
    async with raw_peer() as (session, peer):
        pending = asyncio.create_task(_await(session.main.anything()))
        await next_frame(peer)
        await peer.send('["abort",["error","Error","server is going away"]]')
        with pytest.raises(ConnectionClosed, match="server is going away"):
            await asyncio.wait_for(pending, 2)
        reason = await asyncio.wait_for(session.closed, 2)
        assert isinstance(reason, ConnectionClosed)
        assert reason.reason == RemoteError("Error", "server is going away")


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ('["push",["pipeline",0,', "malformed JSON"),
        ('{"push":1}', "bad RPC message"),
        ('["hello",1]', "unknown message type 'hello'"),
        ('["push",["export",3]]', "id must be negative"),
        ('["push",["pipeline",-4,[],[]]]', "no such entry on exports table: -4"),
        ('["pull",-2]', "pull of unknown export id -2"),
        ('["pull",0]', "pull of export 0, which is not a promise"),
        ('["release",7,1]', "release of unknown export id 7"),
        ('["release",0,2]', "refcount 2"),
        ('["resolve",5,1]', "resolve for unknown import id 5"),
        ('["push",["pipeline",0,["add"],[["bytes","%%"]]]]', "invalid base64"),
        ('["stream",["pipeline",0,["add"],[]]]', "unknown message type 'stream'"),
    ],
)
async def test_bad_input_aborts_with_a_clear_error(frame: str, message: str) -> None:
    async with raw_peer(Api()) as (session, peer):
        await peer.send(frame)
        abort = await next_frame(peer)
        assert abort[0] == "abort"
        assert abort[1][0:2] == ["error", "Error"]
        assert message in abort[1][2]
        reason = await asyncio.wait_for(session.closed, 2)
        assert isinstance(reason, ProtocolError)
        assert message in str(reason)


async def test_oversized_incoming_frame_aborts() -> None:
    session_end, peer = make_pipe()
    session = RpcSession(Api(), max_message_size=1000)
    task = asyncio.create_task(run_over(session, session_end))
    pending = asyncio.create_task(_await(session.main.x()))
    assert [(await next_frame(peer))[0] for _ in range(2)] == ["push", "pull"]
    await peer.send('["push",' + '"' + "x" * 2000 + '"]')
    abort = await next_frame(peer)
    assert abort[0] == "abort" and "exceeds the limit of 1000" in abort[1][2]
    with pytest.raises(ConnectionClosed, match="exceeds the limit"):
        await asyncio.wait_for(pending, 2)
    await asyncio.wait_for(task, 2)


async def test_oversized_outgoing_call_and_result_are_refused() -> None:
    server_end, client_end = make_pipe()
    server = RpcSession(Api(), max_message_size=10_000)
    client = RpcSession(None, max_message_size=10_000)
    tasks = [
        asyncio.create_task(run_over(server, server_end)),
        asyncio.create_task(run_over(client, client_end)),
    ]
    with pytest.raises(MessageTooLarge, match="exceeds the limit of 10000"):
        client.main.slow_echo("x" * 20_000)
    with pytest.raises(RemoteError, match="exceeds the message size limit") as info:
        await client.main.repeat("y", 20_000)
    assert info.value.type == "RangeError"
    assert await client.main.add(1, 1) == 2
    client.close()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)


async def test_sends_wait_for_a_slow_transport() -> None:
    server_end, client_end = make_pipe()
    gate = asyncio.Event()
    client_end.gate = gate
    server = RpcSession(Api())
    client = RpcSession(None)
    tasks = [
        asyncio.create_task(run_over(server, server_end)),
        asyncio.create_task(run_over(client, client_end)),
    ]
    notify = asyncio.create_task(client.main.record.notify(1))
    await asyncio.sleep(0.05)
    assert not notify.done()  # the transport has not taken the message yet
    gate.set()
    await asyncio.wait_for(notify, 2)
    client.close()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)


async def test_session_without_main_rejects_calls() -> None:
    async with connected(None) as p:
        with pytest.raises(RemoteError, match="no main object"):
            await p.client.main.anything()


async def test_stub_passed_back_to_its_owner_is_the_original_object() -> None:
    class Echo(RpcTarget):
        def echo(self, value: Any) -> Any:
            return value

    def marker() -> None:
        pass

    async with connected(Echo()) as p:
        # The server receives our function as a stub and returns it as ["import", -1]: an entry
        # of our own export table, so we get the function itself back.
        assert await p.client.main.echo(marker) is marker
