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
