// The object both interop directions serve: Node serves it to a Python client, and the Python
// test serves an equivalent one (tests/test_wire_interop.py) to client.mjs.
import { RpcTarget } from "capnweb";

export const SAMPLE_DATE_MS = 1749342170815;

export function sample() {
  return {
    nested: [[1, [2, []]], [], ["a", null]],
    when: new Date(SAMPLE_DATE_MS),
    u: undefined,
    n: null,
    big: 12345678901234567890n,
    bytes: new Uint8Array([0, 1, 255]),
    inf: -Infinity,
    text: "héllo\nworld",
  };
}

// What JavaScript sees after decoding a value sent by the peer.
export function describe(v) {
  return {
    nested: JSON.stringify(v.nested),
    isDate: v.when instanceof Date,
    time: v.when instanceof Date ? v.when.getTime() : null,
    undefinedKept: "u" in v && v.u === undefined,
    n: v.n,
    big: typeof v.big === "bigint" ? v.big.toString() : null,
    bytes: v.bytes instanceof Uint8Array ? Array.from(v.bytes) : null,
    inf: v.inf === -Infinity,
    text: v.text,
  };
}

class Counter extends RpcTarget {
  #n = 0;
  inc(by = 1) {
    this.#n += by;
    return this.#n;
  }
}

export class Api extends RpcTarget {
  #kept;

  add(a, b) {
    return a + b;
  }
  echo(value) {
    return value;
  }
  fail(message) {
    throw new Error(message);
  }
  failType() {
    throw new TypeError("bad type");
  }
  sample() {
    return sample();
  }
  describe(value) {
    return describe(value);
  }
  makeCounter() {
    return new Counter();
  }
  // Calls the callback n times without wanting the results (each result is disposed at once,
  // as the reference stream server does for deliveries), then once more awaiting the result.
  async callBack(cb, n) {
    for (let i = 0; i < n; i++) cb(i)[Symbol.dispose]();
    return await cb("done");
  }
  // Subscription-shaped: keep the callback past the call, fire it later, then drop it.
  keep(cb) {
    this.#kept?.[Symbol.dispose]();
    this.#kept = cb.dup();
  }
  async fire(n) {
    for (let i = 0; i < n; i++) this.#kept(i)[Symbol.dispose]();
    return await this.#kept("fired");
  }
  drop() {
    this.#kept?.[Symbol.dispose]();
    this.#kept = undefined;
  }
}
