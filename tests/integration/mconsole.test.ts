import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import pino from "pino";
import { startDaemon, type RunningDaemon } from "../../daemon/daemon.js";
import { parseConfig } from "../../daemon/config.js";
import { leaveNothingOf, testGuestIds } from "../harness/daemon.js";

/** In-process: the real daemon core with real workers and guests, driven through the manager. */
describe("mconsole through a supervisor worker", { timeout: 120_000 }, () => {
  let d: RunningDaemon;
  let dir: string;
  before(async () => {
    dir = mkdtempSync("/tmp/umld-t-");
    // its own guest ids, as every test daemon: the default range's nftables table is the host's umld's
    const cfg = parseConfig(["--state-dir", dir, "--listen", "none", "--log-level", "silent", "--guest-ids", testGuestIds(dir)], {});
    assert.ok(cfg !== "help");
    d = await startDaemon(cfg, pino({ level: "silent" }));
    d.services.instances.create({ name: "mc", memoryMiB: 64 });
    await d.services.instances.act("mc", "start", { wait: true });
  });
  after(async () => {
    await d?.services.instances.haltAll();
    await d?.close();
    leaveNothingOf(dir); // the daemon leaves its cgroups and guest filter for guests that outlive it: none here
  });

  it("answers version with the guest's kernel release and hostname", async () => {
    const v = await d.services.instances.io.mconsole("mc", "version");
    assert.match(v, /^Linux mc 6\.\d+\.\d+ /);
  });

  it("receives a reply of many datagrams whole (proc mounts with 40 long mount lines)", async () => {
    // sysrq t would be the natural long reply, but it panics this guest kernel ("Segfault with no mm");
    // so the guest makes /proc/mounts long: 40 tmpfs mounts with ~200-character names
    const m = d.services.instances.io;
    const out: Buffer[] = [];
    const viewer = { send: (b: Buffer) => void out.push(Buffer.from(b)), backlog: () => 0, close: () => {} };
    const con = m.attachConsole("mc", viewer, true);
    const seen = (s: string) => Buffer.concat(out).toString("latin1").includes(s);
    const until = async (s: string) => {
      for (let i = 0; i < 200 && !seen(s); i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(seen(s), `console never showed ${s}`);
    };
    await until("mc:/# ");
    const long = "L".repeat(190);
    con.input(Buffer.from(`for i in $(seq 40); do mkdir -p /mnt/${long}$i; mount -t tmpfs src${long}$i /mnt/${long}$i; done; echo mounted-$((20*2))\n`));
    await until("mounted-40");
    con.detach();
    const text = await m.mconsole("mc", "proc mounts", 10_000);
    const ours = text.split("\n").filter((l) => l.startsWith(`src${long}`));
    assert.equal(ours.length, 40, "every mount line arrived");
    for (let i = 1; i <= 40; i++)
      assert.ok(
        ours.some((l) => l.startsWith(`src${long}${i} /mnt/${long}${i} tmpfs`)),
        `mount ${i}`,
      );
    const datagrams = Math.ceil(text.length / 511);
    assert.ok(datagrams > 30, `only ${datagrams} datagrams`);
    const again = await m.mconsole("mc", "version");
    assert.match(again, /^Linux mc /, "the next request gets its own answer, not leftovers");
  });

  it("reads /proc files from the guest kernel and reports kernel errors", async () => {
    const m = await d.services.instances.io.mconsole("mc", "proc meminfo");
    assert.match(m, /MemTotal:\s+\d+ kB/);
    await assert.rejects(d.services.instances.io.mconsole("mc", "proc no-such-file"), /Failed to open file/);
  });
});
