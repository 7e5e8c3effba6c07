import assert from "node:assert/strict";
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { TestDaemon } from "../harness/daemon.js";
import { fakeKernel } from "../harness/fixtures.js";

/** Kernels made for the test: a real linux.uml with a different sha, one whose guest panics, one that never boots. */
function makeKernels(dir: string) {
  const good = `${dir}/linux-good`;
  copyFileSync("/usr/bin/linux.uml", good);
  appendFileSync(good, Buffer.from("umld-test-build")); // a different binary (sha), the same kernel
  chmodSync(good, 0o755);
  // answer --version/--help as UML; one panics at boot, the other never comes up
  const panics = fakeKernel(dir, "panics");
  const hangs = fakeKernel(dir, "hangs");
  const notUml = `${dir}/not-uml`;
  writeFileSync(notUml, "#!/bin/sh\necho hello\n", { mode: 0o755 });
  return { good, panics, hangs, notUml };
}

describe("kernel catalogue, upgrades and automatic rollback", { timeout: 300_000 }, () => {
  let d: TestDaemon;
  let dir: string;
  let k: ReturnType<typeof makeKernels>;
  before(async () => {
    dir = mkdtempSync("/tmp/umld-k-");
    k = makeKernels(dir);
    d = await TestDaemon.start();
  });
  after(async () => {
    await d?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("asks a registered binary about itself in a jail, as an unprivileged uid, never as root", async () => {
    const spy = `/tmp/umld-kernel-spy-${process.pid}`;
    const path = fakeKernel(dir, "spies", spy);
    try {
      const r = await d.api("POST", "/v1/kernels", { name: "spy", path });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(existsSync(spy), false, "its --version could not write a host file");
      assert.equal((await d.api("DELETE", "/v1/kernels/spy")).status, 200);
    } finally {
      rmSync(spy, { force: true });
    }
  });

  it("registers kernels into its store (version, sha256) and refuses what is not a UML kernel", async () => {
    const r = await d.api("POST", "/v1/kernels", { name: "good", path: k.good });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.version, "6.1.176");
    assert.equal(r.body.sizeBytes, (await import("node:fs")).statSync(k.good).size);
    const list = (await d.api("GET", "/v1/kernels")).body.kernels;
    const def = list.find((x: any) => x.name === "default");
    assert.notEqual(r.body.sha256, def.sha256, "a different binary");
    assert.ok(r.body.path.startsWith(`${d.stateDir}/kernels/`), "copied into the store");
    for (const [name, path] of [
      ["panics", k.panics],
      ["hangs", k.hangs],
    ]) {
      assert.equal((await d.api("POST", "/v1/kernels", { name, path })).status, 201);
    }
    const bad = await d.api("POST", "/v1/kernels", { name: "bad", path: k.notUml });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, "not_a_uml_kernel");
    assert.equal((await d.api("POST", "/v1/kernels", { name: "bad", path: "/etc/passwd" })).body.error.code, "not_a_uml_kernel");
    assert.equal((await d.api("POST", "/v1/kernels", { name: "rel", path: "relative/x" })).body.error.code, "invalid_request");
    assert.equal((await d.api("POST", "/v1/kernels", { name: "good", path: k.good })).body.error.code, "kernel_exists");
    assert.equal((await d.api("GET", "/v1/kernels")).body.kernels.length, 4, "refusals register nothing");
    // no name: one is derived from the version and the sha; the same binary again is refused
    const unnamed = await d.api("POST", "/v1/kernels", { path: "/usr/bin/linux.uml" });
    assert.equal(unnamed.status, 201, JSON.stringify(unnamed.body));
    assert.equal(unnamed.body.name, `k-6-1-176-${def.sha256.slice(0, 8)}`);
    assert.equal((await d.api("POST", "/v1/kernels", { path: "/usr/bin/linux.uml" })).body.error.code, "kernel_exists");
    assert.equal((await d.api("DELETE", `/v1/kernels/${unnamed.body.name}`)).status, 200, "unused kernels can be deleted");
  });

  it("upgrades a running guest to a new kernel: it runs the new binary", async () => {
    await d.create("up-1");
    const before = await d.mustAct("up-1", "start");
    assert.equal(before.bootedKernel, "default");
    const ev = d.events.length;
    const r = await d.act("up-1", "upgrade", { kernel: "good" });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.instance.state, "running");
    assert.equal(r.body.instance.ready, true);
    assert.equal(r.body.instance.bootedKernel, "good");
    assert.equal(r.body.instance.kernel, "good");
    assert.notEqual(r.body.instance.pid, before.pid, "a new process on the new binary");
    await d.waitEvent((e) => e.type === "instance.upgrade" && e.instance === "up-1" && e.status === "succeeded", 5000, ev);
    const exe = (await import("node:fs")).readlinkSync(`/proc/${r.body.instance.pid}/exe`);
    assert.ok(exe.startsWith(`${d.stateDir}/kernels/`), `runs ${exe}`);
    // the kernel in use cannot be deleted
    const del = await d.api("DELETE", "/v1/kernels/good");
    assert.equal(del.status, 409);
    assert.equal(del.body.error.code, "kernel_in_use");
    assert.deepEqual(del.body.error.details.instances, ["up-1"]);
  });

  it("rolls back automatically when the new kernel panics: the guest runs its previous kernel again", async () => {
    const ev = d.events.length;
    const r = await d.act("up-1", "upgrade", { kernel: "panics", deadlineS: 20 });
    assert.equal(r.status, 500);
    assert.equal(r.body.error.code, "upgrade_rolled_back");
    assert.match(r.body.error.details.reason, /kernel panic/);
    const vm = await d.get("up-1");
    assert.equal(vm.state, "running");
    assert.equal(vm.ready, true);
    assert.equal(vm.bootedKernel, "good");
    assert.equal(vm.kernel, "good");
    await d.waitEvent((e) => e.type === "instance.upgrade" && e.instance === "up-1" && e.status === "rolled-back", 5000, ev);
  });

  it("rolls back a kernel that never boots when its deadline passes", async () => {
    const r = await d.act("up-1", "upgrade", { kernel: "hangs", deadlineS: 3 });
    assert.equal(r.body.error.code, "upgrade_rolled_back");
    assert.match(r.body.error.details.reason, /timed out|did not/);
    const vm = await d.get("up-1");
    assert.equal(vm.state, "running");
    assert.equal(vm.bootedKernel, "good");
  });

  it("a kernel staged with PATCH boots at the next start, with the same safety net", async () => {
    const staged = await d.api("PATCH", "/v1/instances/up-1", { kernel: "default" });
    assert.equal(staged.body.instance.stagedKernel, "default");
    assert.equal(staged.body.instance.bootedKernel, "good", "nothing changes until the next start");
    await d.mustAct("up-1", "shutdown");
    const started = await d.mustAct("up-1", "start");
    assert.equal(started.bootedKernel, "default");
    assert.equal(started.stagedKernel, null);
  });

  it("a rollout upgrades in batches and stops at the first failed batch", async () => {
    for (const n of ["ro-1", "ro-2", "ro-3"]) {
      await d.create(n);
      await d.mustAct(n, "start");
    }
    const ok = await d.api("POST", "/v1/kernels/good/rollout", { selector: { instances: ["ro-1", "ro-2"] }, batchSize: 2 });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(ok.body.result.upgraded.sort(), ["ro-1", "ro-2"]);
    assert.equal((await d.get("ro-2")).bootedKernel, "good");
    const bad = await d.api("POST", "/v1/kernels/panics/rollout", { selector: { instances: ["ro-1", "ro-2", "ro-3"] }, batchSize: 1, deadlineS: 20 });
    assert.equal(bad.status, 500);
    assert.equal(bad.body.error.code, "upgrade_rolled_back");
    const result = bad.body.error.details;
    assert.equal(result.failed.length, 1);
    assert.equal(result.failed[0].instance, "ro-1");
    assert.deepEqual(result.skipped, ["ro-2", "ro-3"]);
    for (const n of ["ro-1", "ro-2", "ro-3"]) assert.equal((await d.get(n)).state, "running");
    assert.equal((await d.get("ro-3")).bootedKernel, "default", "skipped instances are untouched");
    const unknown = await d.api("POST", "/v1/kernels/good/rollout", { selector: { instances: ["nope"] } });
    assert.equal(unknown.body.error.code, "instance_not_found");
  });
});

describe("mconsole passthrough and guest facts", { timeout: 120_000 }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await TestDaemon.start();
    await d.create("mc-1");
    await d.mustAct("mc-1", "start");
  });
  after(async () => {
    await d?.stop();
  });

  it("returns the guest kernel's answers, refuses what would bypass umld", async () => {
    const v = await d.api("POST", "/v1/instances/mc-1/mconsole", { command: "version" });
    assert.match(v.body.reply, /^Linux mc-1 6\.1/);
    const m = await d.api("POST", "/v1/instances/mc-1/mconsole", { command: "sysrq", args: "m" });
    assert.match(m.body.reply, /Mem-Info|free/i);
    const p = await d.api("POST", "/v1/instances/mc-1/mconsole", { command: "proc", args: "meminfo" });
    assert.match(p.body.reply, /MemTotal/);
    const list = await d.api("POST", "/v1/instances/mc-1/mconsole", { command: "proc", args: ["loadavg"] });
    assert.match(list.body.reply, /^\s*[\d.]+ [\d.]+ [\d.]+ /);
    const cfg = await d.api("POST", "/v1/instances/mc-1/mconsole", { command: "config", args: "ubd0" });
    assert.match(cfg.body.reply, /disk0\.cow/);
    const missing = await d.api("POST", "/v1/instances/mc-1/mconsole", { command: "proc", args: "no-such-file" });
    assert.equal(missing.status, 502);
    assert.equal(missing.body.error.code, "mconsole_error");
    for (const body of [{ command: "halt" }, { command: "reboot" }, { command: "stop" }]) assert.equal((await d.api("POST", "/v1/instances/mc-1/mconsole", body)).body.error.code, "invalid_request");
    for (const body of [
      { command: "config", args: "mem=-10M" },
      { command: "config", args: "ubd3=/etc/shadow" },
      { command: "sysrq", args: "t" },
      { command: "sysrq", args: "c" },
      { command: "proc", args: "../etc" },
      { command: "proc", args: "/meminfo" },
      { command: "version", args: "x" },
    ]) {
      const r = await d.api("POST", "/v1/instances/mc-1/mconsole", body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error.code, "mconsole_refused", JSON.stringify(body));
    }
    assert.equal((await d.get("mc-1")).state, "running", "refusals changed nothing");
  });

  it("reports uptime, load and memory from the guest's /proc with no agent", async () => {
    const g = await d.api("GET", "/v1/instances/mc-1/guest");
    assert.equal(g.status, 200);
    assert.equal(g.body.hostname, "mc-1");
    assert.match(g.body.kernelVersion, /^Linux version 6\.1/);
    assert.ok(g.body.uptimeS > 0);
    assert.equal(g.body.load.length, 3);
    assert.ok(g.body.memTotalKiB > 40_000 && g.body.memFreeKiB > 0);
    await d.mustAct("mc-1", "halt");
    const stopped = await d.api("GET", "/v1/instances/mc-1/guest");
    assert.equal(stopped.status, 409);
    assert.equal(stopped.body.error.code, "invalid_state");
  });
});
