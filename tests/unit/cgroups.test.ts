import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { after, describe, it } from "node:test";
import { execFileSync } from "node:child_process";
import {
  cgroupDirs,
  cgroupOfProcess,
  cgroupProcs,
  createCgroup,
  detectCgroups,
  ensureTenantLevel,
  guestCgroupName,
  killCgroup,
  listCgroups,
  parseCpuUsageNs,
  removeCgroup,
  renameCgroup,
  setLimits,
  type CgroupLayout,
} from "../../core/jail/cgroups.js";

const V1 = `25 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 29 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 30 0:33 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
38 30 0:34 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:35 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd`;
const V2 = `25 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 29 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot`;
const HYBRID = `${V1}\n40 30 0:36 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate`;

describe("cgroups (v1 and v2)", () => {
  it("finds v2 at /sys/fs/cgroup, the v1 controllers otherwise, and a cgroup2 mount asked for", () => {
    assert.deepEqual(detectCgroups("umld", V2), { version: 2, hierarchies: ["/sys/fs/cgroup"], parent: "umld" });
    const v1 = detectCgroups("umld", V1);
    assert.equal(v1.version, 1);
    assert.deepEqual(v1.hierarchies, ["/sys/fs/cgroup/blkio", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids"], "name=systemd is not a controller");
    assert.equal(detectCgroups("umld", HYBRID).version, 1, "a hybrid host's controllers are on v1");
    assert.deepEqual(detectCgroups("umld", HYBRID, "/sys/fs/cgroup/unified").hierarchies, ["/sys/fs/cgroup/unified"]);
    // systemd counts a unit's processes in these: a guest gets a cgroup there too, outside the unit that started umld
    assert.deepEqual(v1.tracking, ["/sys/fs/cgroup/systemd"]);
    assert.deepEqual(detectCgroups("umld", HYBRID).tracking, ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"]);
    assert.deepEqual(detectCgroups("umld", HYBRID, "/sys/fs/cgroup/unified").tracking, ["/sys/fs/cgroup/systemd"]);
    assert.deepEqual(cgroupDirs(v1, "g").slice(-1), ["/sys/fs/cgroup/systemd/umld/g"], "the launcher joins the tracking hierarchy too");
    assert.throws(() => detectCgroups("umld", V1, "/nowhere"), /no cgroup2/);
    assert.throws(() => detectCgroups("../x", V2), /not allowed/);
    assert.throws(() => cgroupDirs(detectCgroups("umld", V2), "a/../b"), /not allowed/);
  });

  it("writes each version's limit files where the controller is there", () => {
    const root = mkdtempSync("/tmp/umld-cg-");
    try {
      const v2: CgroupLayout = { version: 2, hierarchies: [`${root}/v2`], parent: "umld" };
      mkdirSync(`${root}/v2/umld/g`, { recursive: true });
      for (const f of ["memory.max", "pids.max", "cpu.weight", "memory.oom.group"]) writeFileSync(`${root}/v2/umld/g/${f}`, "");
      assert.deepEqual(setLimits(v2, "g", { memoryBytes: 128 << 20, pids: 64, cpuWeight: 200 }), []);
      const read = (p: string) => readFileSync(p, "utf8");
      assert.deepEqual(
        [read(`${root}/v2/umld/g/memory.max`), read(`${root}/v2/umld/g/pids.max`), read(`${root}/v2/umld/g/cpu.weight`), read(`${root}/v2/umld/g/memory.oom.group`)],
        [String(128 << 20), "64", "200", "1"],
      );
      const v1: CgroupLayout = { version: 1, hierarchies: [`${root}/memory`, `${root}/pids`, `${root}/cpu`], parent: "umld" };
      mkdirSync(`${root}/memory/umld/g`, { recursive: true });
      mkdirSync(`${root}/pids/umld/g`, { recursive: true });
      mkdirSync(`${root}/cpu/umld/g`, { recursive: true });
      writeFileSync(`${root}/memory/umld/g/memory.limit_in_bytes`, "");
      writeFileSync(`${root}/pids/umld/g/pids.max`, "");
      writeFileSync(`${root}/cpu/umld/g/cpu.shares`, "");
      setLimits(v1, "g", { memoryBytes: null, pids: 32, cpuWeight: 100 });
      assert.deepEqual([read(`${root}/memory/umld/g/memory.limit_in_bytes`), read(`${root}/pids/umld/g/pids.max`), read(`${root}/cpu/umld/g/cpu.shares`)], ["-1", "32", "1024"]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("writes CPU caps, weights and I/O weights in each version's terms, and lifts them with null", () => {
    const root = mkdtempSync("/tmp/umld-cg-");
    const read = (p: string) => readFileSync(p, "utf8");
    try {
      const v2: CgroupLayout = { version: 2, hierarchies: [`${root}/v2`], parent: "umld" };
      mkdirSync(`${root}/v2/umld/g`, { recursive: true });
      for (const f of ["cpu.max", "cpu.weight", "io.weight", "io.bfq.weight"]) writeFileSync(`${root}/v2/umld/g/${f}`, "");
      assert.deepEqual(setLimits(v2, "g", { memoryBytes: null, pids: null, cpuWeight: 50, cpus: 0.25, ioWeight: 2000 }), []);
      assert.deepEqual(
        ["cpu.max", "cpu.weight", "io.weight", "io.bfq.weight"].map((f) => read(`${root}/v2/umld/g/${f}`)),
        ["25000 100000", "50", "default 2000", "default 1000"],
      );
      setLimits(v2, "g", { memoryBytes: null, pids: null, cpuWeight: null, cpus: null, ioWeight: null });
      assert.deepEqual(
        ["cpu.max", "cpu.weight", "io.weight"].map((f) => read(`${root}/v2/umld/g/${f}`)),
        ["max 100000", "100", "default 100"],
      );
      const v1: CgroupLayout = { version: 1, hierarchies: [`${root}/blkio`, `${root}/cpu`], parent: "umld" };
      for (const [h, files] of [
        ["cpu", ["cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.shares"]],
        ["blkio", ["blkio.bfq.weight"]],
      ] as const) {
        mkdirSync(`${root}/${h}/umld/g`, { recursive: true });
        for (const f of files) writeFileSync(`${root}/${h}/umld/g/${f}`, "");
      }
      setLimits(v1, "g", { memoryBytes: null, pids: null, cpuWeight: 50, cpus: 1.5, ioWeight: 5 });
      assert.deepEqual(
        [read(`${root}/cpu/umld/g/cpu.cfs_quota_us`), read(`${root}/cpu/umld/g/cpu.cfs_period_us`), read(`${root}/cpu/umld/g/cpu.shares`), read(`${root}/blkio/umld/g/blkio.bfq.weight`)],
        ["150000", "100000", "512", "5"],
      );
      setLimits(v1, "g", { memoryBytes: null, pids: null, cpuWeight: null, cpus: null });
      assert.deepEqual([read(`${root}/cpu/umld/g/cpu.cfs_quota_us`), read(`${root}/cpu/umld/g/cpu.shares`)], ["-1", "1024"]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("puts a tenant's guests under its level, and finds where an adopted guest really is", () => {
    assert.equal(guestCgroupName("abc", null), "abc");
    assert.equal(guestCgroupName("abc", "acme"), "t-acme/abc");
    const l: CgroupLayout = { version: 1, hierarchies: ["/sys/fs/cgroup/cpu"], parent: "umld" };
    assert.deepEqual(cgroupDirs(l, "t-acme/abc"), ["/sys/fs/cgroup/cpu/umld/t-acme/abc"]);
    for (const bad of ["x/abc", "t-acme/../abc", "t-acme/abc/d", "t-/abc"]) assert.throws(() => cgroupDirs(l, bad), /not allowed/, bad);
    const v1proc = "12:pids:/umld/t-acme/abc\n4:cpu:/umld/t-acme/abc\n1:name=systemd:/\n0::/\n";
    assert.equal(cgroupOfProcess(l, v1proc), "t-acme/abc");
    assert.equal(cgroupOfProcess(l, "4:cpu:/umld/abc\n"), "abc", "a guest started before tenant levels");
    assert.equal(cgroupOfProcess(l, "4:cpu:/other/abc\n"), null);
    assert.equal(cgroupOfProcess({ version: 2, hierarchies: ["/x"], parent: "umld" }, "0::/umld/t-acme/abc\n"), "t-acme/abc");
    assert.equal(parseCpuUsageNs(1, "123456789\n"), 123456789);
    assert.equal(parseCpuUsageNs(2, "usage_usec 1500\nuser_usec 1000\n"), 1_500_000);
    assert.equal(parseCpuUsageNs(2, "nr_periods 0\n"), null);
  });

  describe("on a real cgroup2 file system (mounted for the test)", () => {
    const mnt = mkdtempSync("/tmp/umld-cg2-");
    let mounted = false;
    try {
      execFileSync("mount", ["-t", "cgroup2", "none", mnt]);
      mounted = true;
    } catch {
      // no cgroup2 here (a container): the tests below are skipped
    }
    // cgroup2 is one hierarchy however often mounted, shared with other runs: names of this run's own
    const own = (n: string) => `umld-test-${process.pid}-${n}`;
    after(() => {
      // what a failed test left (deepest first); cgroup directories go with rmdir alone
      for (const n of ["a/g1", "b/t-acme/g1", "b/t-acme", "b/spare-1", "a", "b"]) {
        try {
          rmdirSync(`${mnt}/${own(n)}`);
        } catch {
          // not there
        }
      }
      if (mounted) execFileSync("umount", [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    });

    it("holds a process, lists it, kills everything in it at once and goes away", { skip: !mounted }, async () => {
      const l: CgroupLayout = { version: 2, hierarchies: [mnt], parent: own("a") };
      const [dir] = createCgroup(l, "g1", { memoryBytes: null, pids: 16, cpuWeight: null });
      assert.ok(existsSync(`${dir}/cgroup.procs`));
      const child = spawn("sleep", ["60"], { stdio: "ignore" });
      const exited = new Promise((r) => child.once("exit", r));
      writeFileSync(`${dir}/cgroup.procs`, String(child.pid));
      assert.deepEqual(cgroupProcs(l, "g1"), [child.pid]);
      assert.deepEqual(listCgroups(l), ["g1"]);
      assert.equal(removeCgroup(l, "g1"), false, "not while a process is in it");
      killCgroup(l, "g1");
      await exited;
      assert.deepEqual(cgroupProcs(l, "g1"), []);
      assert.equal(removeCgroup(l, "g1"), true);
      assert.deepEqual(listCgroups(l), []);
      rmdirSync(`${mnt}/${own("a")}`);
    });

    it("moves a standby launcher into a tenant's guest cgroup (a rename cannot change the parent)", { skip: !mounted }, async () => {
      const l: CgroupLayout = { version: 2, hierarchies: [mnt], parent: own("b") };
      createCgroup(l, "spare-1", { memoryBytes: null, pids: null, cpuWeight: null });
      ensureTenantLevel(l, "acme", null);
      const child = spawn("sleep", ["60"], { stdio: "ignore" });
      const exited = new Promise((r) => child.once("exit", r));
      writeFileSync(`${mnt}/${own("b")}/spare-1/cgroup.procs`, String(child.pid));
      renameCgroup(l, "spare-1", "t-acme/g1", child.pid);
      assert.deepEqual(cgroupProcs(l, "t-acme/g1"), [child.pid]);
      assert.ok(!existsSync(`${mnt}/${own("b")}/spare-1`), "the spare cgroup is gone");
      killCgroup(l, "t-acme/g1");
      await exited;
      assert.equal(removeCgroup(l, "t-acme/g1"), true);
      assert.equal(removeCgroup(l, "t-acme"), true);
      rmdirSync(`${mnt}/${own("b")}`);
    });
  });
});
