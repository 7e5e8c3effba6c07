import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ConsoleHub, type ConsoleViewer } from "../../core/console/console-hub.js";
import { Scrollback } from "../../core/console/scrollback.js";

const viewer = (backlog = 0) => {
  const got: Buffer[] = [];
  const v: ConsoleViewer & { got: Buffer[]; closed?: [number, string] } = {
    got,
    send: (d) => got.push(Buffer.from(d)),
    backlog: () => backlog,
    close(code, reason) {
      this.closed = [code, reason];
    },
  };
  return v;
};

describe("console scrollback and hub", () => {
  it("keeps the newest bytes and the absolute end offset", () => {
    const s = new Scrollback(10);
    s.push(Buffer.from("abcdef"));
    s.push(Buffer.from("ghijkl"));
    assert.deepEqual(s.snapshot(), { data: Buffer.from("cdefghijkl"), end: 12 });
    s.push(Buffer.from("0123456789XYZ"));
    assert.deepEqual(s.snapshot(), { data: Buffer.from("3456789XYZ"), end: 25 });
  });

  it("holds exactly the newest bytes for any sequence of chunks, wrapping its ring", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 }), fc.array(fc.uint8Array({ maxLength: 60 }), { maxLength: 30 }), (cap, chunks) => {
        const s = new Scrollback(cap);
        let all = Buffer.alloc(0);
        for (const c of chunks) {
          s.push(Buffer.from(c));
          all = Buffer.concat([all, c]);
          const snap = s.snapshot();
          assert.deepEqual(snap, { data: all.subarray(Math.max(0, all.length - cap)), end: all.length });
        }
      }),
    );
  });

  it("a byte-by-byte echo costs one buffer, not an object per byte", () => {
    const s = new Scrollback(256 * 1024);
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1_000_000; i++) s.push(Buffer.from([0x61 + (i % 26)]));
    const snap = s.snapshot();
    assert.equal(snap.data.length, 256 * 1024);
    assert.equal(snap.data[snap.data.length - 1], 0x61 + (999_999 % 26));
    assert.ok(process.memoryUsage().heapUsed - before < 16 * 1024 * 1024, "the heap does not hold a Buffer per pushed byte");
  });

  it("splices scrollback and live output without gaps or repeats", async () => {
    const hub = new ConsoleHub();
    const v = viewer();
    let release!: (x: { data: Buffer; end: number }) => void;
    hub.attach(v, new Promise((r) => (release = r)));
    hub.broadcast(Buffer.from("def"), 3); // arrives while the scrollback is being fetched: overlaps it
    hub.broadcast(Buffer.from("ghi"), 6);
    release({ data: Buffer.from("abcdef"), end: 6 });
    await new Promise((r) => setImmediate(r));
    hub.broadcast(Buffer.from("jk"), 9);
    assert.equal(Buffer.concat(v.got).toString(), "abcdefghijk");
  });

  it("drops a viewer that falls too far behind instead of holding the guest back", async () => {
    const hub = new ConsoleHub();
    const slow = viewer(2 * 1024 * 1024);
    hub.attach(slow, Promise.resolve(null));
    await new Promise((r) => setImmediate(r));
    hub.broadcast(Buffer.from("x"), 0);
    assert.deepEqual(slow.closed, [1013, "console viewer too slow"]);
    assert.equal(hub.count, 0);
  });
});
