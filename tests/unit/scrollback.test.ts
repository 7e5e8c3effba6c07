import assert from "node:assert/strict";
import { describe, it } from "node:test";
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
    const slow = viewer(64 * 1024 * 1024);
    hub.attach(slow, Promise.resolve(null));
    await new Promise((r) => setImmediate(r));
    hub.broadcast(Buffer.from("x"), 0);
    assert.deepEqual(slow.closed, [1013, "console viewer too slow"]);
    assert.equal(hub.count, 0);
  });
});
