import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { cgroupParentOf, TestDaemon, type ConsoleClient } from "../harness/daemon.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HOG = "while :; do :; done &\n";

/** This host's cgroup v1 directory of a guest (`<id>` or `t-<tenant>/<id>` under the daemon's parent). */
function cgroupDir(d: TestDaemon, controller: string, name: string): string {
  return `/sys/fs/cgroup/${controller}/${cgroupParentOf(d.stateDir)}/${name}`;
}
const read = (path: string) => readFileSync(path, "utf8").trim();
/** Periods in which the guest's cgroup ran out of its CPU quota (cgroup v1 cpu.stat). */
const throttledPeriods = (d: TestDaemon, id: string) => Number(/nr_throttled (\d+)/.exec(read(`${cgroupDir(d, "cpu", id)}/cpu.stat`))![1]);

/** CPU cores each instance used over a window, from its cgroup's accounting (the view's cpuSeconds, read fresh). */
async function coresUsed(d: TestDaemon, names: string[], windowMs: number): Promise<number[]> {
  const at = async () => Promise.all(names.map(async (n) => (await d.get(n)).cpuSeconds as number));
  const t0 = Date.now();
  const s0 = await at();
  await sleep(windowMs);
  const s1 = await at();
  const dt = (Date.now() - t0) / 1000;
  return s1.map((s, i) => (s - s0[i]!) / dt);
}

describe("CPU, I/O and process limits through the guests' cgroups", { timeout: 300_000 }, () => {
  let d: TestDaemon;
  const shells: ConsoleClient[] = [];
  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
  });
  after(async () => {
    for (const c of shells) c.close();
    await d?.stop();
  });

  it("a guest running a CPU hog with limits.cpus 0.25 uses at most 30 % of a core while another keeps its share", async () => {
    const r = await d.api("POST", "/v1/instances", { name: "capped", limits: { cpus: 0.25 } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.deepEqual(r.body.limits, { cpus: 0.25, cpuWeight: null, ioWeight: null, pids: null, netMbit: null });
    await d.create("uncapped");
    const vm = await d.mustAct("capped", "start");
    await d.mustAct("uncapped", "start");
    assert.equal(read(`${cgroupDir(d, "cpu", vm.id)}/cpu.cfs_quota_us`), "25000");
    for (const n of ["capped", "uncapped"]) {
      const con = await d.shell(n);
      shells.push(con);
      con.type(HOG);
    }
    await sleep(1000);
    const other = (await d.get("uncapped")).id;
    const throttled0 = [throttledPeriods(d, vm.id), throttledPeriods(d, other)];
    const [capped, uncapped] = await coresUsed(d, ["capped", "uncapped"], 10_000);
    const throttled = [throttledPeriods(d, vm.id) - throttled0[0]!, throttledPeriods(d, other) - throttled0[1]!];
    process.stderr.write(
      `# CPU over 10 s: capped ${capped!.toFixed(3)} of a core (${throttled[0]} periods throttled), uncapped ${uncapped!.toFixed(3)} (${throttled[1]}); load ${readFileSync("/proc/loadavg", "utf8").split(" ")[0]}\n`,
    );
    assert.ok(capped! <= 0.3, `the capped guest used ${capped!.toFixed(3)} of a core`);
    assert.ok(capped! > 0.05, `it did run: ${capped!.toFixed(3)}`);
    assert.ok(throttled[0]! > 0, "the cap is what held it: its cgroup was throttled");
    // the host's 2 cores are shared with other test runs, so the other guest's share is relative: never throttled,
    // and at least what the capped one got (on an idle host: most of a core)
    assert.equal(throttled[1], 0, "the other guest is never throttled");
    assert.ok(uncapped! >= 0.8 * capped!, `the other guest kept its share: ${uncapped!.toFixed(3)} of a core beside ${capped!.toFixed(3)}`);

    // raised live: the running guest's cgroup at once
    const up = await d.api("PATCH", "/v1/instances/capped", { limits: { cpus: 0.5 } });
    assert.equal(up.status, 200, JSON.stringify(up.body));
    assert.equal(read(`${cgroupDir(d, "cpu", vm.id)}/cpu.cfs_quota_us`), "50000");
    const off = await d.api("PATCH", "/v1/instances/capped", { limits: { cpus: null } });
    assert.equal(off.body.instance.limits.cpus, null);
    assert.equal(read(`${cgroupDir(d, "cpu", vm.id)}/cpu.cfs_quota_us`), "-1");
  });

  it("sets weights and the process limit live, and refuses bad limits with a clear error, changing nothing", async () => {
    const vm = await d.get("capped");
    const ok = await d.api("PATCH", "/v1/instances/capped", { limits: { cpus: null, cpuWeight: 50, ioWeight: 300, pids: 64, netMbit: null } });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(ok.body.instance.limits, { cpus: null, cpuWeight: 50, ioWeight: 300, pids: 64, netMbit: null });
    assert.equal(read(`${cgroupDir(d, "cpu", vm.id)}/cpu.shares`), "512");
    assert.equal(read(`${cgroupDir(d, "pids", vm.id)}/pids.max`), "64");
    const bfq = `${cgroupDir(d, "blkio", vm.id)}/blkio.bfq.weight`;
    if (existsSync(bfq)) assert.match(read(bfq), /300/);
    const bad: Array<[Record<string, unknown>, number, string]> = [
      [{ cpus: 0 }, 400, "body.limits.cpus"],
      [{ cpus: 1000 }, 400, "body.limits.cpus"], // more than this host's cores
      [{ cpuWeight: 0 }, 400, "body.limits.cpuWeight"],
      [{ ioWeight: 10_001 }, 400, "body.limits.ioWeight"],
      [{ pids: 8 }, 400, "body.limits.pids"], // fewer than a guest needs
      [{ pids: 5000 }, 400, "body.limits.pids"], // more than --guest-max-processes (1024)
      [{ cpus: 0.5, pids: 8 }, 400, "body.limits.pids"], // all or nothing
      [{ memory: 5 }, 400, "body.limits"],
    ];
    for (const [limits, status, path] of bad) {
      const r = await d.api("PATCH", "/v1/instances/capped", { limits });
      assert.equal(r.status, status, `${JSON.stringify(limits)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, "invalid_request");
      assert.ok(JSON.stringify(r.body.error.details).includes(path), `${JSON.stringify(limits)} names ${path}: ${JSON.stringify(r.body.error)}`);
    }
    assert.deepEqual((await d.get("capped")).limits, { cpus: null, cpuWeight: 50, ioWeight: 300, pids: 64, netMbit: null }, "nothing changed");
    assert.equal(read(`${cgroupDir(d, "cpu", vm.id)}/cpu.cfs_quota_us`), "-1");
    const badCreate = await d.api("POST", "/v1/instances", { name: "nope", limits: { cpus: 1000 } });
    assert.equal(badCreate.status, 400);
    assert.equal((await d.api("GET", "/v1/instances/nope")).status, 404, "not created");
    const cpuSeconds = (await d.get("capped")).cpuSeconds!;
    await d.mustAct("capped", "halt");
    await d.mustAct("uncapped", "halt");
    const stopped = await d.get("capped");
    assert.ok(stopped.cpuSeconds! >= cpuSeconds, `a halted guest keeps its CPU seconds: ${stopped.cpuSeconds} >= ${cpuSeconds}`);
  });

  it("a tenant's guests share its CPU cap, and no guest of it gets more than the cap", async () => {
    assert.equal((await d.api("POST", "/v1/tenants", { name: "acme", quotas: { maxCpus: 0.3 } })).status, 201);
    const tok = (await d.api("POST", "/v1/tenants/acme/tokens", { name: "main" })).body.token as string;
    const over = await d.api("POST", "/v1/instances", { name: "t1", limits: { cpus: 0.5 } }, { token: tok });
    assert.equal(over.status, 409, JSON.stringify(over.body));
    assert.equal(over.body.error.code, "quota_exceeded");
    assert.deepEqual(over.body.error.details, { quota: "maxCpus", limit: 0.3, requested: 0.5 });
    for (const n of ["t1", "t2"]) assert.equal((await d.api("POST", "/v1/instances", { name: n }, { token: tok })).status, 201);
    const ids: string[] = [];
    for (const n of ["t1", "t2"]) {
      const r = await d.api("PUT", `/v1/instances/${n}/state`, { action: "start" }, { token: tok });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      ids.push(r.body.instance.id);
      const con = await d.console(`acme.${n}`);
      shells.push(con);
      await con.waitFor(`${n}:/# `, 20_000); // a tenant's guest is called by its name in the tenant
      con.type(HOG);
    }
    for (const id of ids) assert.ok(existsSync(cgroupDir(d, "cpu", `t-acme/${id}`)), "each guest under its tenant's level");
    assert.equal(read(`${cgroupDir(d, "cpu", "t-acme")}/cpu.cfs_quota_us`), "30000");
    assert.equal(read(`${cgroupDir(d, "cpu", "t-acme")}/cpu.shares`), "2048", "the level weighs what its two guests weigh: a tenant's guests are not squeezed into one guest's share");
    // a tenant's own weights divide its share among its guests; they never outweigh other tenants
    const heavy = await d.api("PATCH", "/v1/instances/t1", { limits: { cpuWeight: 10_000, ioWeight: 1000 } }, { token: tok });
    assert.equal(heavy.status, 200, JSON.stringify(heavy.body));
    assert.equal(read(`${cgroupDir(d, "cpu", `t-acme/${ids[0]}`)}/cpu.shares`), "102400", "its guest weighs more within the tenant");
    assert.equal(read(`${cgroupDir(d, "cpu", "t-acme")}/cpu.shares`), "2048", "the tenant does not");
    await sleep(1000);
    const used = await coresUsed(d, ["acme.t1", "acme.t2"], 10_000);
    const sum = used[0]! + used[1]!;
    process.stderr.write(`# tenant cap 0.3: its two hogging guests used ${used.map((u) => u.toFixed(3)).join(" + ")} = ${sum.toFixed(3)} of a core\n`);
    assert.ok(sum <= 0.36, `the tenant's guests together used ${sum.toFixed(3)} of a core`);
    const tooHigh = await d.api("PATCH", "/v1/instances/t1", { limits: { cpus: 0.4 } }, { token: tok });
    assert.equal(tooHigh.body.error?.code, "quota_exceeded");
    assert.equal((await d.api("PATCH", "/v1/instances/t1", { limits: { cpus: 0.2 } }, { token: tok })).status, 200, "within its cap");

    // lowered live below a guest's own limit: the guest goes down with it (cgroup v1 refuses a child above its parent)
    const lower = await d.api("PATCH", "/v1/tenants/acme", { quotas: { maxCpus: 0.1 } });
    assert.equal(lower.status, 200, JSON.stringify(lower.body));
    assert.equal(lower.body.quotas.maxCpus, 0.1);
    assert.equal(read(`${cgroupDir(d, "cpu", "t-acme")}/cpu.cfs_quota_us`), "10000");
    assert.equal(read(`${cgroupDir(d, "cpu", `t-acme/${ids[0]}`)}/cpu.cfs_quota_us`), "10000");
    const raise = await d.api("PATCH", "/v1/tenants/acme", { quotas: { maxCpus: null } });
    assert.equal(raise.status, 200, JSON.stringify(raise.body));
    assert.equal(read(`${cgroupDir(d, "cpu", "t-acme")}/cpu.cfs_quota_us`), "-1");
    assert.equal(read(`${cgroupDir(d, "cpu", `t-acme/${ids[0]}`)}/cpu.cfs_quota_us`), "20000", "its own limit again");
  });

  it("an adopted guest (after a daemon restart) keeps its cgroup, its limits and its CPU count, and takes live changes", async () => {
    const before = await d.get("acme.t1");
    await d.kill("SIGTERM");
    d = await TestDaemon.start({ stateDir: d.stateDir, logLevel: "info" });
    const adopted = await d.get("acme.t1");
    assert.equal(adopted.pid, before.pid);
    assert.ok(adopted.cpuSeconds! >= before.cpuSeconds!, `${adopted.cpuSeconds} >= ${before.cpuSeconds}`);
    const r = await d.api("PATCH", "/v1/instances/acme.t1", { limits: { cpus: 0.15 } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(read(`${cgroupDir(d, "cpu", `t-acme/${before.id}`)}/cpu.cfs_quota_us`), "15000");
    await d.mustAct("acme.t2", "halt");
    assert.equal(read(`${cgroupDir(d, "cpu", "t-acme")}/cpu.shares`), "1024", "one guest left");
    await d.mustAct("acme.t1", "halt");
    assert.ok(!existsSync(cgroupDir(d, "cpu", `t-acme/${before.id}`)), "the guest's cgroup goes with it");
    for (const n of ["acme.t1", "acme.t2"]) assert.equal((await d.api("DELETE", `/v1/instances/${n}`)).status, 200);
    assert.equal((await d.api("DELETE", "/v1/tenants/acme")).status, 200);
    assert.ok(!existsSync(cgroupDir(d, "cpu", "t-acme")), "and the tenant's level with the tenant");
  });
});
