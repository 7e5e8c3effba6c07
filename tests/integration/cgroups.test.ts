import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { cgroupParentOf, guestPids, TestDaemon } from "../harness/daemon.js";

const procsOf = (dir: string) => readFileSync(`${dir}/cgroup.procs`, "utf8").split("\n").filter(Boolean).map(Number);

/** Every host process of a guest lives, is limited and dies in its own cgroup: v1 here, and v2 on a cgroup2 mount. */
describe("guests' cgroups", { timeout: 240_000 }, () => {
  describe("cgroup v2 (a cgroup2 file system mounted for the test)", () => {
    let d: TestDaemon;
    const mnt = mkdtempSync("/tmp/umld-cg2-");
    before(async () => {
      execFileSync("mount", ["-t", "cgroup2", "none", mnt]);
      d = await TestDaemon.start({ logLevel: "info", args: ["--cgroup-v2", mnt] });
    });
    after(async () => {
      try {
        await d?.stop();
      } finally {
        // cgroup2 is one hierarchy however often it is mounted (other runs share it): only this daemon's parent is ours
        const own = d && `${mnt}/${cgroupParentOf(d.stateDir)}`;
        try {
          if (own && existsSync(own)) {
            for (const p of readdirSync(own, { withFileTypes: true })) if (p.isDirectory()) rmdirSync(`${own}/${p.name}`);
            rmdirSync(own);
          }
        } finally {
          execFileSync("umount", ["-l", mnt]);
          rmSync(mnt, { recursive: true, force: true });
        }
      }
    });

    it("holds every process of a running guest; a halt or a kill of the kernel alone leaves none and removes it", async () => {
      const vm = await d.create("v2");
      const up = await d.mustAct("v2", "start");
      const dir = `${mnt}/${cgroupParentOf(d.stateDir)}/${vm.id}`;
      const procs = procsOf(dir);
      const pids = guestPids(d.stateDir, vm.id);
      assert.ok(pids.length >= 2 && pids.every((p) => procs.includes(p)), `guest ${pids} in its cgroup ${procs}`);
      assert.ok(procs.includes(up.pid!));
      await d.mustAct("v2", "halt");
      assert.ok(!existsSync(dir), "removed with the guest");
      // the kernel's main process killed alone: its guest processes would live on natively without the cgroup
      const again = await d.mustAct("v2", "start");
      process.kill(again.pid!, "SIGKILL");
      await d.waitEvent((e) => e.type === "instance.state" && e.instance === "v2" && (e as { to: string }).to === "crashed", 20_000);
      assert.deepEqual(guestPids(d.stateDir, vm.id), [], "nothing of the guest is left");
      assert.ok(!existsSync(dir));
    });

    it("puts a tenant's guest under the tenant's level and counts its CPU time from cpu.stat", async () => {
      assert.equal((await d.api("POST", "/v1/tenants", { name: "acme" })).status, 201);
      const as = { headers: { "umld-tenant": "acme" } };
      assert.equal((await d.api("POST", "/v1/instances", { name: "tv2" }, as)).status, 201);
      const up = await d.mustAct("acme.tv2", "start");
      const parent = cgroupParentOf(d.stateDir);
      const dir = `${mnt}/${parent}/t-acme/${up.id}`;
      assert.ok(procsOf(dir).includes(up.pid!), "the guest is in t-acme/<id>");
      assert.ok((await d.get("acme.tv2")).cpuSeconds! > 0, "its boot's CPU time is counted");
      await d.mustAct("acme.tv2", "halt");
      assert.ok(!existsSync(dir));
      const total = (await d.get("acme.tv2")).cpuSeconds!;
      assert.ok(total > 0, `and kept when it stops: ${total}`);
      assert.equal((await d.api("DELETE", "/v1/instances/acme.tv2")).status, 200);
      assert.equal((await d.api("DELETE", "/v1/tenants/acme")).status, 200);
      assert.ok(!existsSync(`${mnt}/${parent}/t-acme`), "the tenant's level goes with the tenant");
    });

    it("applies limits through v2's files where cgroup2 has the controllers, else refuses them with 501 unsupported and changes nothing", async () => {
      await d.create("lim2");
      const up = await d.mustAct("lim2", "start");
      const dir = `${mnt}/${cgroupParentOf(d.stateDir)}/${up.id}`;
      const controllers = readFileSync(`${mnt}/${cgroupParentOf(d.stateDir)}/cgroup.controllers`, "utf8").split(/\s+/);
      const r = await d.api("PATCH", "/v1/instances/lim2", { limits: { cpus: 0.5, cpuWeight: 200, pids: 64 } });
      if (controllers.includes("cpu") && controllers.includes("pids")) {
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.equal(readFileSync(`${dir}/cpu.max`, "utf8").trim(), "50000 100000");
        assert.equal(readFileSync(`${dir}/cpu.weight`, "utf8").trim(), "200");
        assert.equal(readFileSync(`${dir}/pids.max`, "utf8").trim(), "64");
      } else {
        // this host binds cpu and pids to its v1 hierarchies: cgroup2 cannot hold them
        assert.equal(r.status, 501, JSON.stringify(r.body));
        assert.equal(r.body.error.code, "unsupported");
        assert.deepEqual((await d.get("lim2")).limits, { cpus: null, cpuWeight: null, ioWeight: null, pids: null, netMbit: null }, "nothing stored");
      }
      assert.ok((await d.get("lim2")).cpuSeconds! > 0, "CPU time from cpu.stat, which every cgroup2 directory has");
      await d.mustAct("lim2", "halt");
    });
  });

  describe("limits (this host's cgroups)", () => {
    let d: TestDaemon;
    before(async () => {
      d = await TestDaemon.start({ logLevel: "info", args: ["--guest-max-processes", "40"] });
    });
    after(async () => {
      await d?.stop();
    });

    it("a guest that forks without end is held at its process limit; the host and its other guests carry on", async () => {
      await d.create("bomb");
      await d.create("calm");
      const vm = await d.mustAct("bomb", "start");
      await d.mustAct("calm", "start");
      const con = await d.shell("bomb");
      con.type("i=0; while [ $i -lt 200 ]; do sleep 300 & i=$((i+1)); done 2>/dev/null; echo forked\n");
      await con.waitFor("forked", 60_000);
      const pids = guestPids(d.stateDir, vm.id);
      assert.ok(pids.length <= 40, `at most 40 host processes: ${pids.length}`);
      const calm = await d.shell("calm");
      assert.match(await calm.run("echo still-$((6*7))"), /still-42/, "the other guest works");
      calm.close();
      con.close();
      await d.mustAct("bomb", "halt");
      await d.mustAct("calm", "halt");
    });
  });
});
