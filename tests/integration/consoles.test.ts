import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TestDaemon } from "../harness/daemon.js";

describe("consoles", { timeout: 240_000 }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await TestDaemon.start();
  });
  after(async () => {
    await d?.stop();
  });

  it("two instances run at once, each with its own console", async () => {
    await d.create("con-a");
    await d.create("con-b");
    await Promise.all([d.mustAct("con-a", "start"), d.mustAct("con-b", "start")]);
    const a = await d.shell("con-a");
    const b = await d.shell("con-b");
    a.type("echo I-am-$(hostname)\n");
    b.type("echo I-am-$(hostname)\n");
    await a.waitFor("I-am-con-a");
    await b.waitFor("I-am-con-b");
    assert.ok(!a.text().includes("I-am-con-b"), "no output of b on a's console");
    assert.ok(!b.text().includes("I-am-con-a"), "no output of a on b's console");
    // several viewers at once: a second viewer of con-a sees what the first types
    const a2 = await d.console("con-a", false);
    a.type("echo shared-$((5*5))\n");
    await a2.waitFor("shared-25");
    a.close();
    a2.close();
    b.close();
    await Promise.all([d.mustAct("con-a", "halt"), d.mustAct("con-b", "halt")]);
  });

  it("20 MB written by the guest at full speed arrive whole on the console WebSocket with nobody typing", async () => {
    await d.create("bulk", 128);
    await d.mustAct("bulk", "start");
    const con = await d.shell("bulk");
    const line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-+\n";
    const fileBytes = 1024 * 1024;
    const repeats = 20;
    const file = Buffer.from(line.repeat(Math.ceil(fileBytes / line.length))).subarray(0, fileBytes);
    const expected = Buffer.concat(Array.from({ length: repeats }, () => file));
    // a 1 MiB file in the guest's tmpfs, then cat 20 times; -opost so the tty passes bytes unchanged
    const setup = con.bytes;
    con.type(`yes ${line.trim()} | head -c ${fileBytes} > /tmp/f; echo made-$((2+2))\n`);
    await con.waitFor("made-4", 30_000, setup);
    con.type(`stty -opost; echo BULK-BEGIN; for i in $(seq ${repeats}); do cat /tmp/f; done; echo BULK-END-$((1+1)); stty opost\n`);
    const start = await con.waitFor("BULK-BEGIN\n", 20_000, setup);
    const t0 = Date.now();
    const end = await con.waitFor("BULK-END-2", 120_000, start);
    const secs = Math.max(0.001, (Date.now() - t0) / 1000);
    const body = con.buffer().subarray(start, end - "BULK-END-2".length);
    assert.equal(body.length, expected.length, "every byte arrived, none twice");
    assert.ok(body.equals(expected), "the bytes arrived unchanged and in order");
    const N = expected.length;
    console.log(`# bulk console: ${(N / 1e6 / secs).toFixed(1)} MB/s over the WebSocket`);
    // and the console is still interactive afterwards
    const m = con.bytes;
    con.type("echo after-bulk-$((3*3))\n");
    await con.waitFor("after-bulk-9", 10_000, m);
    con.close();
    await d.mustAct("bulk", "halt");
  });

  it("a console attached to a stopped instance replays its last output from the log", async () => {
    await d.create("replay");
    await d.mustAct("replay", "start");
    await d.mustAct("replay", "halt");
    const con = await d.console("replay");
    await con.waitFor("umld: guest ready: replay", 5000);
    con.close();
  });
});
