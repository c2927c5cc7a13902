// A capnweb client checking a Python-served Api. Usage: node client.mjs ws|http <url>
// Prints one JSON line {"ok": true, "checks": n} and exits 0, or prints the failure and exits 1.
import assert from "node:assert/strict";
import { WebSocket } from "ws";

globalThis.WebSocket ??= WebSocket;
const { newHttpBatchRpcSession, newWebSocketRpcSession } = await import("capnweb");
const { SAMPLE_DATE_MS, describe, sample } = await import("./api.mjs");

const [mode, url] = process.argv.slice(2);
let checks = 0;
const check = () => checks++;

async function rejects(promise, name, message) {
  await assert.rejects(async () => await promise, (err) => {
    assert.equal(err.name, name);
    assert.equal(err.message, message);
    return true;
  });
  check();
}

function checkSampleFromPython(d) {
  assert.deepEqual(d, {
    nested: JSON.stringify([[1, [2, []]], [], ["a", null]]),
    isDate: true,
    time: SAMPLE_DATE_MS,
    undefinedKept: true,
    n: null,
    big: "12345678901234567890",
    bytes: [0, 1, 255],
    inf: true,
    text: "héllo\nworld",
  });
  check();
}

async function overWebSocket() {
  const api = newWebSocketRpcSession(url);
  assert.equal(await api.add(2, 3), 5);
  check();
  assert.deepEqual(await api.echo([[1, [2]], { a: [] }]), [[1, [2]], { a: [] }]);
  check();
  // Python decodes our sample and reports what it saw; then echoes it back unchanged.
  assert.deepEqual(await api.describe(sample()), {
    nested: "[[1, [2, []]], [], ['a', None]]",
    when: SAMPLE_DATE_MS,
    u: "UNDEFINED",
    n: null,
    big: "BigInt(12345678901234567890)",
    bytes: [0, 1, 255],
    inf: "-inf",
    text: "héllo\nworld",
  });
  check();
  checkSampleFromPython(describe(await api.echo(sample())));
  checkSampleFromPython(describe(await api.sample()));
  await rejects(api.fail("boom"), "Error", "boom");
  await rejects(api.failType(), "TypeError", "bad type");

  const counter = api.makeCounter();
  assert.equal(await counter.inc(), 1);
  assert.equal(await counter.inc(5), 6);
  counter[Symbol.dispose]();
  check();

  const got = [];
  const result = await api.callBack((v) => {
    got.push(v);
    return got.length;
  }, 1000);
  assert.equal(result, 1001);
  assert.deepEqual(got, [...Array(1000).keys(), "done"]);
  check();

  const later = [];
  await api.keep((v) => {
    later.push(v);
    return later.length;
  });
  assert.equal(await api.fire(1000), 1001);
  assert.deepEqual(later, [...Array(1000).keys(), "fired"]);
  await api.drop();
  check();
  api[Symbol.dispose]();
}

async function overHttpBatch() {
  {
    const api = newHttpBatchRpcSession(url);
    const counter = api.makeCounter();
    const [sum, echoed, one, two, s] = await Promise.all([
      api.add(1, 2),
      api.echo([[], [[1]]]),
      counter.inc(),
      counter.inc(),
      api.sample(),
    ]);
    assert.equal(sum, 3);
    assert.deepEqual(echoed, [[], [[1]]]);
    assert.deepEqual([one, two], [1, 2]);
    checkSampleFromPython(describe(s));
    check();
  }
  {
    const api = newHttpBatchRpcSession(url);
    await rejects(api.fail("batch boom"), "Error", "batch boom");
  }
}

try {
  if (mode === "ws") await overWebSocket();
  else if (mode === "http") await overHttpBatch();
  else throw new Error(`unknown mode ${mode}`);
  console.log(JSON.stringify({ ok: true, checks }));
  process.exit(0);
} catch (err) {
  console.log(JSON.stringify({ ok: false, checks, error: String(err?.stack || err) }));
  process.exit(1);
}
