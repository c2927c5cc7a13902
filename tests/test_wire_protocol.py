"""RpcProtocol without an event loop: frames in, frames and events out.

Two protocols are wired back to back (`Link`); calls that can be answered at once are served
the way the driver serves them (wire.dispatch), so every exchange is deterministic.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest

from wire.codec import UNDEFINED, RpcTarget
from wire.dispatch import apply_path
from wire.errors import ConnectionClosed, MessageTooLarge, ProtocolError, RemoteError, RpcError
from wire.events import (
    TRANSITIONS,
    CallArrived,
    Event,
    ExportSettled,
    ImportSettled,
    PromiseImported,
    ResultNeedsEvaluation,
    SessionEnded,
    SessionState,
)
from wire.protocol import RpcProtocol
from wire.tables import ExportKind, Handle, Import, Pending, StubRef

pytestmark = pytest.mark.timeout(30)


class Ref(Handle):
    """What a test holds for a stub the peer exported (the driver would make a RemoteStub)."""

    __slots__ = ("ref",)

    def __init__(self, ref: StubRef) -> None:
        self.ref = ref

    def _reference(self) -> tuple[RpcProtocol, Import, tuple[str | int, ...]]:
        return self.ref.protocol, self.ref.imp, ()


def new_protocol(main: object | None = None, **options: Any) -> RpcProtocol:
    return RpcProtocol(main, make_stub=Ref, **options)


def main_ref(protocol: RpcProtocol) -> StubRef:
    return StubRef(protocol, protocol.main_import, False)


def sent(protocol: RpcProtocol) -> list[Any]:
    return [orjson.loads(text) for text in protocol.data_to_send()]


def feed(protocol: RpcProtocol, *messages: Any) -> list[Event]:
    events: list[Event] = []
    for message in messages:
        text = message if isinstance(message, str) else orjson.dumps(message).decode()
        events += protocol.receive(text)
    return events


def serve(protocol: RpcProtocol, events: list[Event]) -> None:
    """Answer calls the way the driver does when nothing has to be waited for."""
    for event in events:
        if not isinstance(event, CallArrived):
            continue
        value = event.value
        try:
            if isinstance(value, Pending):
                exp = value.export
                assert exp is not None and value.arg_pendings is None
                if exp.kind is ExportKind.PUSH:
                    assert exp.done
                    if exp.error is not None:
                        raise exp.error
                    target = exp.value
                else:
                    target = exp.target
                value = apply_path(target, value.path, value.args)
        except Exception as exc:
            protocol.settle_export(event.export, None, exc)
        else:
            protocol.settle_export(event.export, value, None)


class Link:
    """A client and a server protocol back to back; records each side's frames and events."""

    def __init__(
        self, server_main: object | None, client_main: object | None = None, **options: Any
    ):
        self.server = new_protocol(server_main, **options)
        self.client = new_protocol(client_main, **options)
        self.client_frames: list[Any] = []
        self.server_frames: list[Any] = []
        self.client_events: list[Event] = []
        self.server_events: list[Event] = []

    def pump(self) -> None:
        """Deliver frames both ways until neither side has more to send; serve calls."""
        sides = (
            (self.client, self.server, self.client_frames, self.server_events),
            (self.server, self.client, self.server_frames, self.client_events),
        )
        while self.client.has_output or self.server.has_output:
            for sender, receiver, frames, events in sides:
                for text in sender.data_to_send():
                    frames.append(orjson.loads(text))
                    received = receiver.receive(text)
                    events.extend(received)
                    serve(receiver, received)

    def call(self, name: str, *args: Any) -> Import:
        imp = self.client.call(main_ref(self.client), (name,), args)
        self.client.pull(imp)
        self.pump()
        return imp

    def result(self, imp: Import) -> Any:
        return settled(self.client_events, imp.id)

    def value_of(self, name: str, *args: Any) -> Any:
        return self.result(self.call(name, *args))


def settled(events: list[Event], import_id: int) -> Any:
    for event in events:
        if isinstance(event, ImportSettled) and event.import_id == import_id:
            if event.error is not None:
                raise event.error
            return event.value
    raise AssertionError(f"import {import_id} has not settled")


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
        self.kept: Any = None

    def add(self, a: int, b: int) -> int:
        return a + b

    def echo(self, value: Any) -> Any:
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

    def keep(self, cb: Any) -> None:
        self.kept = cb

    def give_function(self) -> Any:
        return lambda x: x * 3

    def _private(self) -> str:
        return "never"


def test_calls_return_decoded_values_and_errors() -> None:
    link = Link(Api())
    assert link.value_of("add", 2, 3) == 5
    value = {"list": [1, [2, []]], "u": UNDEFINED, "n": None}
    assert link.value_of("echo", value) == value
    with pytest.raises(RemoteError) as info:
        link.value_of("fail", "boom")
    assert (info.value.type, info.value.message) == ("Error", "boom")
    with pytest.raises(RemoteError) as info:
        link.value_of("fail_type")
    assert info.value.type == "TypeError"
    rejects = [f for f in link.server_frames if f[0] == "reject"]
    assert rejects[0][2] == ["error", "Error", "boom"]  # no stack on the wire
    assert link.client.stats() == {"imports": 0, "exports": 0}
    assert link.server.stats() == {"imports": 0, "exports": 0}


def test_call_frames_follow_push_pull_resolve_release() -> None:
    link = Link(Api())
    assert link.value_of("add", 1, 2) == 3
    assert link.client_frames == [
        ["push", ["pipeline", 0, ["add"], [1, 2]]],
        ["pull", 1],
        ["release", 1, 1],
    ]
    assert link.server_frames == [["resolve", 1, 3]]


def test_private_and_missing_methods_and_instance_attributes_are_unreachable() -> None:
    link = Link(Api())
    with pytest.raises(RemoteError, match="no method named 'nope'"):
        link.value_of("nope")
    with pytest.raises(RemoteError, match="no method named '_private'"):
        link.value_of("_private")
    counter = link.client.call(main_ref(link.client), ("make_counter",), ())
    secret = link.client.call(StubRef(link.client, counter, False), ("secret",), ())
    link.client.pull(secret)
    link.pump()
    with pytest.raises(RemoteError, match="no method named 'secret'"):
        link.result(secret)


def test_pipelined_calls_on_a_pending_result_need_one_round_trip() -> None:
    link = Link(Api())
    client = link.client
    counter = client.call(main_ref(client), ("make_counter",), ())  # only pushed
    on_counter = StubRef(client, counter, False)
    first = client.call(on_counter, ("inc",), ())
    second = client.call(on_counter, ("inc",), (10,))
    client.pull(first)
    client.pull(second)
    link.pump()
    assert (link.result(first), link.result(second)) == (1, 11)
    assert link.client_frames[:5] == [
        ["push", ["pipeline", 0, ["make_counter"], []]],
        ["push", ["pipeline", 1, ["inc"], []]],
        ["push", ["pipeline", 1, ["inc"], [10]]],
        ["pull", 2],
        ["pull", 3],
    ]
    # The server saw the later calls aimed at the first call's export.
    made, inc, _ = (e for e in link.server_events if isinstance(e, CallArrived))
    assert isinstance(inc.value, Pending) and inc.value.export is made.export
    client.release_push(counter)
    link.pump()
    assert link.server.stats() == {"imports": 0, "exports": 0}
    assert link.client.stats() == {"imports": 0, "exports": 0}


def test_awaited_promise_cannot_be_pipelined_afterwards() -> None:
    link = Link(Api())
    counter = link.call("make_counter")
    stub = link.result(counter)
    assert isinstance(stub, Ref)
    with pytest.raises(RpcError, match="already awaited or released"):
        link.client.call(StubRef(link.client, counter, False), ("inc",), ())
    inc = link.client.call(stub.ref, ("inc",), ())
    link.client.pull(inc)
    link.pump()
    assert link.result(inc) == 1


def test_exported_stub_lives_until_the_peer_releases_it() -> None:
    api = Api()
    link = Link(api)
    link.value_of("keep", lambda x: x + 1)
    assert link.client.stats()["exports"] == 1
    assert isinstance(api.kept, Ref)
    for arg, expected in ((1, 2), (2, 3)):
        call = link.server.call(api.kept.ref, (), (arg,))
        link.server.pull(call)
        link.pump()
        assert settled(link.server_events, call.id) == expected
    api.kept.ref.release()
    link.pump()
    assert link.client.stats()["exports"] == 0
    assert ["release", -1, 1] in link.server_frames
    with pytest.raises(RpcError, match="already released"):
        link.server.call(api.kept.ref, (), (3,))


def test_returned_function_is_callable_many_times() -> None:
    link = Link(Api())
    triple = link.value_of("give_function")
    results = []
    for i in range(3):
        call = link.client.call(triple.ref, (), (i,))
        link.client.pull(call)
        link.pump()
        results.append(link.result(call))
    assert results == [0, 3, 6]
    triple.ref.release()
    link.pump()
    assert link.server.stats() == {"imports": 0, "exports": 0}


def test_release_carries_the_number_of_introductions() -> None:
    protocol = new_protocol()
    promise = protocol.call(main_ref(protocol), ("get_two",), ())
    protocol.pull(promise)
    assert sent(protocol) == [["push", ["pipeline", 0, ["get_two"], []]], ["pull", 1]]
    events = feed(protocol, '["resolve",1,[[["export",-1],["export",-1]]]]')
    first, second = settled(events, 1)
    assert sent(protocol) == [["release", 1, 1]]
    assert first.ref.imp is second.ref.imp and first.ref.imp.id == -1
    first.ref.release()
    first.ref.release()  # releasing one reference twice counts once
    assert sent(protocol) == []
    second_call = protocol.call(second.ref, (), ("x",))
    assert sent(protocol) == [["push", ["pipeline", -1, [], ["x"]]]]
    protocol.release_push(second_call)
    assert sent(protocol) == [["release", 2, 1]]
    second.ref.release()
    assert sent(protocol) == [["release", -1, 2]]
    assert protocol.stats() == {"imports": 0, "exports": 0}


def test_peer_promise_in_a_value_is_reported_for_evaluation() -> None:
    protocol = new_protocol()
    call = protocol.call(main_ref(protocol), ("get",), ())
    protocol.pull(call)
    protocol.data_to_send()
    imported, needs = feed(protocol, '["resolve",1,{"later":["promise",-1]}]')
    assert isinstance(imported, PromiseImported) and isinstance(needs, ResultNeedsEvaluation)
    assert needs.imp is call and needs.pendings == [imported.pending]
    assert needs.value == {"later": imported.pending}
    assert sent(protocol) == []  # the call is released once its value is complete
    assert feed(protocol, '["resolve",-1,[["a"]]]') == [ImportSettled(-1, ["a"], None)]
    assert sent(protocol) == [["release", -1, 1]]
    protocol.settle_import(call, {"later": ["a"]}, None)
    assert protocol.events_received() == [ImportSettled(1, {"later": ["a"]}, None)]
    assert sent(protocol) == [["release", 1, 1]]
    assert protocol.stats() == {"imports": 0, "exports": 0}


def test_notify_sends_push_and_release_and_gets_no_reply() -> None:
    api = Api()
    link = Link(api)
    ref = main_ref(link.client)
    assert link.client.notify(ref, ("record",), ({"x": [1]},)) == 2
    assert link.client.notify(ref, ("record",), (2,)) == 4
    link.pump()
    assert api.received == [{"x": [1]}, 2]
    assert link.client_frames == [
        ["push", ["pipeline", 0, ["record"], [{"x": [[1]]}]]],
        ["release", 1, 1],
        ["push", ["pipeline", 0, ["record"], [2]]],
        ["release", 2, 1],
    ]
    assert link.server_frames == []
    assert link.value_of("add", 1, 1) == 2
    assert [f[0] for f in link.server_frames] == ["resolve"]


def test_unobserved_failure_is_logged_not_sent(caplog: pytest.LogCaptureFixture) -> None:
    link = Link(Api())
    with caplog.at_level(logging.WARNING, logger="wire.protocol"):
        link.client.notify(main_ref(link.client), ("fail",), ("quiet",))
        link.pump()
        assert link.value_of("add", 0, 0) == 0
    assert [f[0] for f in link.server_frames] == ["resolve"]
    assert "quiet" in caplog.text


def test_released_call_fails_locally_and_a_late_answer_is_ignored() -> None:
    protocol = new_protocol()
    call = protocol.call(main_ref(protocol), ("block",), ())
    protocol.pull(call)
    protocol.data_to_send()
    protocol.release_push(call)
    [event] = protocol.events_received()
    assert isinstance(event, ImportSettled) and isinstance(event.error, RpcError)
    assert "promise 1 was released" in str(event.error)
    assert sent(protocol) == [["release", 1, 1]]
    assert feed(protocol, '["resolve",1,"late"]') == []
    assert protocol.state is SessionState.OPEN
    assert protocol.stats() == {"imports": 0, "exports": 0}


def test_pipelined_call_on_an_unsettled_push_is_told_when_it_settles() -> None:
    server = new_protocol(Api())
    [first] = feed(server, ["push", ["pipeline", 0, ["make_counter"], []]])
    assert isinstance(first, CallArrived)
    server.await_export(first.export)
    server.settle_export(first.export, Counter(), None)
    assert server.events_received() == [ExportSettled(first.export)]
    [second] = feed(server, ["push", ["pipeline", 1, ["inc"], []]])
    assert isinstance(second, CallArrived)
    server.settle_export(second.export, 1, None)  # nobody waits for this one
    assert server.events_received() == []


def test_end_of_session_is_reported_once_and_refuses_new_calls() -> None:
    protocol = new_protocol()
    call = protocol.call(main_ref(protocol), ("anything",), ())
    protocol.close()
    protocol.abort(RuntimeError("too late"))
    protocol.close(ConnectionClosed("again"))
    [ended] = protocol.events_received()
    assert isinstance(ended, SessionEnded) and str(ended.reason) == "RPC session closed"
    assert protocol.state is SessionState.CLOSED
    assert sent(protocol) == [["push", ["pipeline", 0, ["anything"], []]]]  # no abort frame
    assert protocol.pull(call) is None
    with pytest.raises(ConnectionClosed, match="RPC session closed"):
        protocol.call(main_ref(protocol), ("add",), ())
    assert feed(protocol, '["resolve",1,2]') == []
    assert TRANSITIONS[SessionState.OPEN] == {SessionState.ABORTED, SessionState.CLOSED}
    assert not TRANSITIONS[SessionState.ABORTED] and not TRANSITIONS[SessionState.CLOSED]


def test_lost_connection_becomes_connection_closed() -> None:
    protocol = new_protocol()
    protocol.connection_lost(OSError("reset by peer"))
    [ended] = protocol.events_received()
    assert isinstance(ended, SessionEnded) and isinstance(ended.reason, ConnectionClosed)
    assert isinstance(ended.reason.__cause__, OSError)
    assert "reset by peer" in str(protocol.closed_error())


def test_peer_abort_ends_the_session_with_its_message() -> None:
    protocol = new_protocol()
    protocol.call(main_ref(protocol), ("anything",), ())
    protocol.data_to_send()
    [ended] = feed(protocol, '["abort",["error","Error","server is going away"]]')
    assert isinstance(ended, SessionEnded) and isinstance(ended.reason, ConnectionClosed)
    assert ended.reason.reason == RemoteError("Error", "server is going away")
    assert protocol.state is SessionState.ABORTED
    assert sent(protocol) == []  # an abort is not answered
    with pytest.raises(ConnectionClosed, match="server is going away"):
        raise protocol.closed_error()
    with pytest.raises(ConnectionClosed, match="server is going away"):
        protocol.notify(main_ref(protocol), ("x",), ())


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
def test_bad_input_aborts_with_a_clear_error(frame: str, message: str) -> None:
    protocol = new_protocol(Api())
    events = feed(protocol, frame)
    [abort] = sent(protocol)
    assert abort[0] == "abort"
    assert abort[1][0:2] == ["error", "Error"]
    assert message in abort[1][2]
    ended = events[-1]
    assert isinstance(ended, SessionEnded) and isinstance(ended.reason, ProtocolError)
    assert message in str(ended.reason)
    assert protocol.state is SessionState.ABORTED


@pytest.mark.parametrize("as_bytes", [False, True])
def test_oversized_incoming_frame_aborts(as_bytes: bool) -> None:
    protocol = new_protocol(Api(), max_message_size=1000)
    protocol.call(main_ref(protocol), ("x",), ())
    protocol.data_to_send()
    frame = '["push",' + '"' + "x" * 2000 + '"]'
    [ended] = protocol.receive(frame.encode() if as_bytes else frame)
    assert isinstance(ended, SessionEnded) and isinstance(ended.reason, ProtocolError)
    [abort] = sent(protocol)
    assert abort[0] == "abort" and "exceeds the limit of 1000" in abort[1][2]
    with pytest.raises(ConnectionClosed, match="exceeds the limit"):
        raise protocol.closed_error()


def test_oversized_outgoing_call_and_result_are_refused() -> None:
    link = Link(Api(), max_message_size=10_000)
    with pytest.raises(MessageTooLarge, match="exceeds the limit of 10000"):
        link.client.call(main_ref(link.client), ("echo",), ("x" * 20_000,))
    assert link.client.stats() == {"imports": 0, "exports": 0}
    with pytest.raises(RemoteError, match="exceeds the message size limit") as info:
        link.value_of("repeat", "y", 20_000)
    assert info.value.type == "RangeError"
    assert link.value_of("add", 1, 1) == 2


def test_stub_passed_back_to_its_owner_is_the_original_object() -> None:
    def marker() -> None:
        pass

    link = Link(Api())
    # The server receives our function as a stub and returns it as ["import", -1]: an entry of
    # our own export table, so we get the function itself back.
    assert link.value_of("echo", marker) is marker
    assert ["resolve", 1, ["import", -1]] in link.server_frames


def test_a_stub_of_another_session_cannot_be_sent() -> None:
    link = Link(Api())
    stranger = Link(Api()).value_of("give_function")
    with pytest.raises(TypeError, match="from another RPC session"):
        link.client.call(main_ref(link.client), ("echo",), (stranger,))
    assert link.client.stats() == {"imports": 0, "exports": 0}
