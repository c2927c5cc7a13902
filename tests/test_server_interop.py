"""The reference client (capnweb on Node) against the real stream server: HTTP batch calls, a
WebSocket subscription with replay then live delivery, unsubscribe, and error texts."""

import os

import pytest
from interop_support import run_node_report

from wire.paths import stream_url

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


# Runs with tests/interop as the working directory, so `capnweb` and `ws` resolve from there.
CLIENT = r"""
import assert from "node:assert/strict";
import { WebSocket } from "ws";
globalThis.WebSocket ??= WebSocket;
const { newHttpBatchRpcSession, newWebSocketRpcSession } = await import("capnweb");
const { HTTP_URL, WS_URL } = process.env;

const first = await newHttpBatchRpcSession(HTTP_URL).append({
  event: { type: "js.first", payload: { tags: [["a", "b"]], n: null } },
});
assert.equal(first.offset, 3);
assert.deepEqual(first.payload, { tags: [["a", "b"]], n: null });
assert.match(first.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

const api = newWebSocketRpcSession(WS_URL);
const batches = [];
let arrived = () => {};
const sub = await api.subscribe({
  processEventBatch: (batch) => { batches.push(batch); arrived(); },
  replayAfterOffset: 0,
  subscriber: { description: "capnweb" },
});
assert.equal(typeof sub.subscriptionKey, "string");
const offsets = () => batches.flatMap((b) => b.events.map((e) => e.offset));
const waitFor = async (offset) => {
  while (!offsets().includes(offset)) await new Promise((r) => (arrived = r));
};
await waitFor(sub.streamMaxOffset);
assert.deepEqual(offsets(), [1, 2, 3, 4]);
const live = await api.appendBatch({
  events: [{ type: "js.a" }, { type: "js.b", idempotencyKey: "k" }],
});
assert.deepEqual(live.map((e) => e.offset), [5, 6]);
await waitFor(6);
for (const b of batches) {
  assert.equal(b.namespace, "default");
  assert.equal(b.state.maxOffset, b.streamMaxOffset);
  assert.ok(Array.isArray(b.state.childPaths));
}
assert.deepEqual(offsets(), [1, 2, 3, 4, 5, 6]);

const again = await api.append({ event: { type: "js.b", idempotencyKey: "k" } });
assert.equal(again.offset, 6);
assert.equal(await api.getEvent({ idempotencyKey: "missing" }), undefined);
const rejects = (call, message) => assert.rejects(async () => await call(), { message });
await rejects(() => api.getEvent({ offset: 99 }), "No stream event found at offset 99.");
await rejects(() => api.getEvents({ limit: 0 }), "getEvents limit must be a positive integer.");
const state = await api.runtimeState();
assert.equal(state.runtime.connections[sub.subscriptionKey].direction, "inbound");

await sub.unsubscribe();
const tail = await newHttpBatchRpcSession(HTTP_URL).getEvents({ afterOffset: 6 });
assert.deepEqual(tail.map((e) => [e.type, e.payload.reason]), [
  ["events.iterate.com/stream/subscriber-disconnected", "unsubscribed"],
]);
api[Symbol.dispose]();
console.log(JSON.stringify({ ok: true, batches: batches.length }));
"""


async def test_capnweb_client_against_the_server(embedded_server: str) -> None:
    env = {
        **os.environ,
        "HTTP_URL": stream_url(embedded_server, "/interop"),
        "WS_URL": stream_url(embedded_server, "/interop", ws=True),
    }
    report = await run_node_report("--input-type=module", "-e", CLIENT, env=env)
    assert report["ok"] is True and report["batches"] >= 2
