import assert from "node:assert/strict";
import { closeSync, constants, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { native } from "../../core/native.js";
import { ConsolePipes, MAX_QUEUED_INPUT } from "../../core/supervisor/console-pipes.js";

function rig(scrollbackBytes = 16, logMaxBytes = 1 << 20) {
  const dir = mkdtempSync("/tmp/umld-cp-");
  const files = { consoleIn: `${dir}/console.in`, consoleOut: `${dir}/console.out`, consoleLog: `${dir}/console.log` };
  native.mkfifo(files.consoleIn, 0o600);
  native.mkfifo(files.consoleOut, 0o600);
  const got: Array<[string, number]> = [];
  const pipes = new ConsolePipes(files, scrollbackBytes, logMaxBytes, { data: (c, o) => got.push([c.toString("latin1"), o]), warn: () => {} });
  return {
    dir,
    files,
    pipes,
    got,
    done: () => {
      pipes.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe("console pipes: FIFOs, log, scrollback, bounded input", () => {
  it("keeps the newest bytes with absolute offsets, logs everything, and rotates the log once past its size", () => {
    const r = rig(16, 39);
    r.pipes.openLog();
    r.pipes.onData(Buffer.from("0123456789abcdefghij")); // 20
    r.pipes.onData(Buffer.from("KLMNOPQRSTUVWXYZ----")); // 40 > 39: rotated after this write
    r.pipes.onData(Buffer.from("tail"));
    assert.deepEqual(
      r.got.map(([, o]) => o),
      [0, 20, 40],
      "each chunk at its absolute offset",
    );
    const snap = r.pipes.snapshot();
    assert.equal(Buffer.from(snap.data).toString(), "STUVWXYZ----tail");
    assert.equal(snap.end, 44);
    assert.equal(snap.data.byteOffset, 0);
    assert.equal(snap.data.byteLength, snap.data.buffer.byteLength, "its own buffer: safe to transfer");
    assert.equal(readFileSync(`${r.files.consoleLog}.1`, "latin1"), "0123456789abcdefghijKLMNOPQRSTUVWXYZ----");
    assert.equal(readFileSync(r.files.consoleLog, "latin1"), "tail");
    r.done();
  });

  it("seeds an adopted guest's scrollback from the log", () => {
    const r = rig(8);
    writeFileSync(r.files.consoleLog, "old output\nlast8by!");
    r.pipes.seedFromLog();
    assert.equal(Buffer.from(r.pipes.snapshot().data).toString(), "last8by!");
    r.done();
  });

  it("follows how this boot's kernel ended, and forgets it at the next boot", () => {
    const r = rig();
    r.pipes.onData(Buffer.from("fake:/# reboot\r\nThe system is going down NOW!\r\nreboot: Resta"));
    assert.equal(r.pipes.endLine(), null);
    r.pipes.onData(Buffer.from("rting system\n"));
    assert.equal(r.pipes.endLine(), "restart", "a line split between chunks");
    assert.match(r.pipes.tail(), /Restarting system\n$/);
    r.pipes.resetTail();
    assert.equal(r.pipes.endLine(), null);
    assert.equal(r.pipes.tail(), "");
    r.done();
  });

  describe("attached to the FIFOs", () => {
    let r: ReturnType<typeof rig>;
    before(() => {
      r = rig(1024);
      r.pipes.attach();
    });
    after(() => r.done());

    it("reads what the guest writes, also when no one else holds the FIFO (between a reboot's two processes)", async () => {
      const w = openSync(r.files.consoleOut, constants.O_WRONLY | constants.O_NONBLOCK);
      writeSync(w, "first boot\n");
      closeSync(w); // the last writer goes: a reader that did not hold the FIFO itself would see EOF here
      await new Promise((res) => setTimeout(res, 50));
      const w2 = openSync(r.files.consoleOut, constants.O_WRONLY | constants.O_NONBLOCK);
      writeSync(w2, "second boot\n");
      closeSync(w2);
      for (
        let i = 0;
        i < 100 &&
        !r.got
          .map(([t]) => t)
          .join("")
          .includes("second boot");
        i++
      )
        await new Promise((res) => setTimeout(res, 10));
      assert.equal(r.got.map(([t]) => t).join(""), "first boot\nsecond boot\n");
    });

    it("queues input for a guest that does not read, up to a bound; past it input is dropped and the writer told", async () => {
      const chunk = Buffer.alloc(128 * 1024, 0x61);
      let accepted = 0;
      while (r.pipes.input(chunk)) {
        accepted += chunk.length;
        assert.ok(accepted <= MAX_QUEUED_INPUT + 1024 * 1024, "bounded");
      }
      assert.ok(accepted >= MAX_QUEUED_INPUT - chunk.length, `${accepted} bytes taken before the bound`);
      assert.equal(r.pipes.input(Buffer.from("x")), false, "still full");
    });
  });

  it("input typed while nothing is attached goes nowhere, as on a serial line", () => {
    const r = rig();
    assert.equal(r.pipes.input(Buffer.from("lost")), true);
    assert.ok(!existsSync(`${r.files.consoleLog}.1`));
    r.done();
  });
});
