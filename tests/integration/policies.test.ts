import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { mconsolePath, TestDaemon } from "../harness/daemon.js";
import { panickingImage } from "../harness/fixtures.js";

const mconsoleCli = (stateDir: string, vm: { id: string; pid: number | null }, cmd: string) =>
  execFileSync("uml_mconsole", [mconsolePath(stateDir, vm.id, vm.pid!), cmd], { stdio: ["ignore", "pipe", "ignore"] }).toString();

describe("restart policies, crash loops, hangs, autostart, host shutdown", { timeout: 300_000 }, () => {
  let d: TestDaemon;
  let dir: string;
  before(async () => {
    dir = mkdtempSync("/tmp/umld-pol-");
    d = await TestDaemon.start({ logLevel: "info" });
  });
  after(async () => {
    await d?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("restarts a crashed guest per policy", async () => {
    await d.api("POST", "/v1/instances", { name: "re-1", restartPolicy: "on-failure" });
    const vm = await d.mustAct("re-1", "start");
    const ev = d.events.length;
    process.kill(vm.pid!, "SIGKILL");
    const r = await d.waitEvent((e) => e.type === "instance.restart" && e.instance === "re-1", 10_000, ev);
    assert.equal((r as any).attempt, 1);
    assert.equal((r as any).delayS, 1);
    await d.waitEvent((e) => e.type === "instance.ready" && e.instance === "re-1", 20_000, ev);
    const again = await d.get("re-1");
    assert.equal(again.state, "running");
    assert.notEqual(again.pid, vm.pid);
    // an asked-for stop is not a failure: no restart
    const ev2 = d.events.length;
    await d.mustAct("re-1", "shutdown");
    await new Promise((res) => setTimeout(res, 2500));
    assert.equal(d.events.slice(ev2).filter((e) => e.type === "instance.restart").length, 0);
    assert.equal((await d.get("re-1")).state, "stopped");
  });

  it("a guest that panics in a loop is restarted with backoff, then stopped and flagged", async () => {
    await panickingImage(d, "panics");
    await d.api("POST", "/v1/instances", { name: "loop-1", image: "panics", restartPolicy: "on-failure" });
    const ev = d.events.length;
    const first = await d.act("loop-1", "start");
    assert.equal(first.body.error.code, "boot_failed");
    const flagged = await d.waitEvent((e) => e.type === "instance.flagged" && e.instance === "loop-1", 90_000, ev);
    assert.match((flagged as any).flag, /^crash-loop: 5 restarts/);
    const restarts = d.events.slice(ev).filter((e) => e.type === "instance.restart" && e.instance === "loop-1") as any[];
    assert.deepEqual(
      restarts.map((e) => e.delayS),
      [1, 2, 4, 8, 16],
      "exponential backoff",
    );
    const vm = await d.get("loop-1");
    assert.equal(vm.state, "crashed");
    assert.match(vm.flag!, /crash-loop/);
    assert.match(vm.lastExit!.reason, /kernel panic/);
    await new Promise((res) => setTimeout(res, 3000));
    assert.equal(d.events.slice(ev).filter((e) => e.type === "instance.restart" && e.instance === "loop-1").length, 5, "no restart after the flag");
  });

  it("detects a hung guest within its timeout, and resets it when asked to", async () => {
    await d.api("POST", "/v1/instances", { name: "hang-1", hangTimeoutS: 3 });
    const vm = await d.mustAct("hang-1", "start");
    const ev = d.events.length;
    const t0 = Date.now();
    mconsoleCli(d.stateDir, vm, "stop"); // freeze the guest behind umld's back
    const h = await d.waitEvent((e) => e.type === "instance.hang" && e.instance === "hang-1", 15_000, ev);
    const took = (Date.now() - t0) / 1000;
    assert.ok(took <= 3 + 2.5, `detected after ${took} s`);
    assert.match((h as any).evidence.probe, /tick counters stayed/);
    assert.equal((h as any).action, "reported");
    mconsoleCli(d.stateDir, vm, "go");
    await d.mustAct("hang-1", "halt");

    await d.api("POST", "/v1/instances", { name: "hang-2", hangTimeoutS: 2, onHang: "reset" });
    const before = await d.mustAct("hang-2", "start");
    const ev2 = d.events.length;
    mconsoleCli(d.stateDir, before, "stop");
    await d.waitEvent((e) => e.type === "instance.hang" && e.instance === "hang-2" && (e as any).action === "reset", 15_000, ev2);
    await d.waitEvent((e) => e.type === "instance.ready" && e.instance === "hang-2", 20_000, ev2);
    const after = await d.get("hang-2");
    assert.equal(after.state, "running");
    assert.notEqual(after.pid, before.pid, "halted and started again");
    await d.mustAct("hang-2", "halt");
  });

  it("starts autostart guests in order when umld starts, and shuts every guest down for a host shutdown", async () => {
    await d.api("POST", "/v1/instances", { name: "auto-b", autostart: true, autostartOrder: 2 });
    await d.api("POST", "/v1/instances", { name: "auto-a", autostart: true, autostartOrder: 1, autostartDelayS: 0.2 });
    await d.mustAct("re-1", "start");
    const down = await d.api("POST", "/v1/host/shutdown-guests", { deadlineS: 20 });
    assert.equal(down.status, 200, JSON.stringify(down.body));
    assert.deepEqual(down.body.shutDown, ["re-1"]);
    assert.equal((await d.get("re-1")).state, "stopped");
    await d.kill("SIGTERM");
    d = await TestDaemon.start({ stateDir: d.stateDir, logLevel: "info" });
    const a = await d.waitEvent((e) => e.type === "instance.ready" && e.instance === "auto-a", 20_000);
    const b = await d.waitEvent((e) => e.type === "instance.ready" && e.instance === "auto-b", 20_000);
    assert.ok(d.events.indexOf(a) < d.events.indexOf(b), "autostartOrder respected");
    assert.equal((await d.get("re-1")).state, "stopped", "not marked autostart: stays down");
    assert.equal((await d.get("loop-1")).state, "crashed", "a flagged guest stays down");
    await d.mustAct("auto-a", "halt");
    await d.mustAct("auto-b", "halt");
  });
});
