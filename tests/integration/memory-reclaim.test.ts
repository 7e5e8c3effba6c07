import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { TestDaemon, type ConsoleClient } from "../harness/daemon.js";

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A process in the guest that takes 150 MiB at once (one 150 MiB buffer, every page written by the read) and exits. */
const ALLOC_150 = "dd if=/dev/zero of=/dev/null bs=150M count=1";

describe("memoryReclaim auto on a real guest", { timeout: 240_000 }, () => {
  let d: TestDaemon;
  let con: ConsoleClient;
  const memory = async () => (await d.api("GET", "/v1/instances/rec/memory")).body;
  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
    const r = await d.api("POST", "/v1/instances", { name: "rec", memoryMiB: 256, memoryReclaim: "auto" });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.memoryReclaim, "auto");
    await d.mustAct("rec", "start");
    con = await d.shell("rec");
  });
  after(async () => {
    con?.close();
    await d?.stop();
  });

  it("gives what a guest filled and freed back to the host within 30 s, then plugs it back when a process needs it, with no OOM kill", async () => {
    assert.match(await con.run(`${ALLOC_150} 2>&1`), /1\+0 records out/);
    const filled = await memory();
    assert.equal(filled.reclaim, "auto");
    assert.ok(filled.hostAllocatedBytes > 150 * MiB, `the host backs what the guest touched: ${filled.hostAllocatedBytes / MiB} MiB`);
    const t0 = Date.now();
    let now = filled;
    // (the count follows the unplug once the guest's memory is measured again)
    while ((filled.hostAllocatedBytes - now.hostAllocatedBytes < 100 * MiB || now.unpluggedMiB < 100) && Date.now() - t0 < 30_000) {
      await sleep(500);
      now = await memory();
    }
    const returnedMiB = (filled.hostAllocatedBytes - now.hostAllocatedBytes) / MiB;
    assert.ok(returnedMiB >= 100, `the host got ${returnedMiB.toFixed(1)} MiB back in ${(Date.now() - t0) / 1000} s`);
    assert.ok(now.unpluggedMiB >= 100, JSON.stringify(now));
    assert.ok(now.guestMemFreeKiB / 1024 >= now.headroomMiB - 4, `the guest kept its headroom: ${now.guestMemFreeKiB / 1024} MiB free`);
    process.stderr.write(`# reclaim: ${returnedMiB.toFixed(1)} MiB back to the host in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    const view = await d.get("rec");
    assert.equal(view.memoryReclaim, "auto");
    assert.equal(view.memoryMiB, 256, "the target stays the ceiling");
    assert.ok(d.events.some((e) => e.type === "instance.memory" && e.instance === "rec" && (e as { by?: string }).by === "reclaim"));

    const out = await con.run(`${ALLOC_150} 2>&1; echo rc=$?; dmesg | grep -c -i -e 'out of memory' -e 'oom-kill'`, 60_000);
    assert.match(out, /1\+0 records out/, out);
    assert.match(out, /rc=0\n0\n/, `no OOM kill in the guest: ${out}`);
    const back = await memory();
    assert.ok(back.unpluggedMiB <= now.unpluggedMiB - 100, `memory was plugged back: ${now.unpluggedMiB} -> ${back.unpluggedMiB} MiB unplugged`);
    process.stderr.write(
      `# reclaim: host ${(filled.hostAllocatedBytes / MiB).toFixed(0)} MiB filled, ${(now.hostAllocatedBytes / MiB).toFixed(0)} MiB reclaimed (${now.unpluggedMiB} MiB unplugged), ${(back.hostAllocatedBytes / MiB).toFixed(0)} MiB after the second allocation (${back.unpluggedMiB} MiB unplugged)\n`,
    );
    assert.match(await con.run("echo alive-$((6*7))"), /alive-42/);
  });

  it("starts over after a reboot (a new UML process with all its memory): the count restarts, and reclaim goes on", async () => {
    const rebooted = await d.mustAct("rec", "reboot");
    con.close();
    con = await d.shell("rec");
    const fresh = await memory();
    assert.ok(fresh.unpluggedMiB < 256 - fresh.headroomMiB, JSON.stringify(fresh));
    assert.match(await con.run(`${ALLOC_150} 2>&1`), /1\+0 records out/);
    const t0 = Date.now();
    let now = await memory();
    while (now.unpluggedMiB < 100 && Date.now() - t0 < 30_000) {
      await sleep(500);
      now = await memory();
    }
    assert.ok(now.unpluggedMiB >= 100, `reclaimed again after the reboot: ${JSON.stringify(now)}`);
    // the new process gave it back (not a count carried over from the old one)
    assert.ok(now.hostAllocatedBytes < 100 * MiB, `the host backs ${(now.hostAllocatedBytes / MiB).toFixed(0)} MiB of the rebooted guest`);
    assert.ok(now.guestMemFreeKiB / 1024 >= now.headroomMiB - 4, `the guest kept its headroom: ${now.guestMemFreeKiB / 1024} MiB free`);
    assert.equal((await d.get("rec")).pid, rebooted.pid);
  });

  it("off gives the guest its target back, and stays off", async () => {
    const r = await d.api("PATCH", "/v1/instances/rec", { memoryReclaim: "off" });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.instance.memoryReclaim, "off");
    const m = await memory();
    assert.equal(m.reclaim, "off");
    assert.equal(m.unpluggedMiB, 0);
  });
});

describe("host memory admission (--memory-overcommit)", { timeout: 120_000 }, () => {
  let d: TestDaemon;
  before(async () => {
    // a ratio that lets the host commit only ~200 MiB of guest memory, whatever its size
    const memTotalMiB = Math.floor(Number(/MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))![1]) / 1024);
    d = await TestDaemon.start({ logLevel: "info", args: ["--memory-overcommit", (200 / memTotalMiB).toFixed(6)] });
  });
  after(async () => {
    await d?.stop();
  });

  it("refuses a start past the ratio with the figures, and the refused instance is left exactly as it was", async () => {
    await d.create("first", 128);
    await d.create("second", 128);
    await d.mustAct("first", "start");
    const before = await d.get("second");
    const dir = `${d.stateDir}/instances/${before.id}`;
    const files = readdirSync(dir).sort();
    const events = d.events.length;
    const r = await d.act("second", "start");
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.equal(r.body.error.code, "host_memory_exhausted");
    const f = r.body.error.details;
    assert.equal(f.committedMiB, 128);
    assert.equal(f.requestedMiB, 128);
    assert.ok(f.limitMiB >= 195 && f.limitMiB <= 200, JSON.stringify(f));
    assert.ok(f.hostMemTotalMiB > 0 && f.overcommit < 0.1, JSON.stringify(f));
    assert.match(r.body.error.message, /128 MiB|256 MiB/);
    const afterView = await d.get("second");
    assert.equal(afterView.state, "stopped");
    assert.equal(afterView.bootCount, before.bootCount);
    assert.equal(afterView.pid, null);
    assert.deepEqual(readdirSync(dir).sort(), files, "no file made");
    await sleep(300);
    const since = d.events.slice(events).filter((e) => ("instance" in e && e.instance === "second") || e.type === "operation");
    assert.deepEqual(since, [], "no event, no operation");
    // what the running guest frees is what the next start may take
    await d.mustAct("first", "halt");
    await d.mustAct("second", "start");
    await d.mustAct("second", "halt");
  });
});
