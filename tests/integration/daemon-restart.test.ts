import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, describe, it } from "node:test";
import { guestPids, mconsolePath, TestDaemon } from "../harness/daemon.js";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

for (const signal of ["SIGTERM", "SIGKILL"] as const) {
  describe(`guests outlive the daemon (${signal})`, { timeout: 180_000 }, () => {
    let d: TestDaemon | null = null;
    after(async () => {
      await d?.stop();
    });

    it("keeps 5 guests running and responsive, reports one killed meanwhile as crashed, and adopts the others", async () => {
      const first = await TestDaemon.start();
      d = first;
      const names = ["keep-a", "keep-b", "keep-c", "keep-d", "keep-e"];
      const vms = [];
      for (const n of names) {
        await first.create(n);
        vms.push(await first.mustAct(n, "start"));
      }
      const gone = await first.create("gone-f");
      const b = await first.mustAct("gone-f", "start");
      const con0 = await first.shell("keep-a");
      // output the guest writes while no daemon is reading must reach a viewer later
      con0.type("(sleep 1; echo written-while-down-$((7*7))) &\n");
      await new Promise((r) => setTimeout(r, 200));
      con0.close();

      await first.kill(signal);
      for (const vm of vms) {
        assert.ok(alive(vm.pid!), `${vm.name} keeps running without the daemon`);
        const v = execFileSync("uml_mconsole", [mconsolePath(first.stateDir, vm.id, vm.pid!), "version"], { stdio: ["ignore", "pipe", "ignore"] }).toString();
        assert.match(v, new RegExp(`OK Linux ${vm.name} `), `${vm.name} answers while umld is down`);
      }
      process.kill(-b.pid!, "SIGKILL"); // one guest dies while nobody watches
      await new Promise((r) => setTimeout(r, 1500));
      assert.deepEqual(guestPids(first.stateDir, gone.id), []);

      d = await TestDaemon.start({ stateDir: first.stateDir });
      for (const vm of vms) {
        const now = await d.get(vm.name);
        assert.equal(now.state, "running", vm.name);
        assert.equal(now.pid, vm.pid, "the same process, not a new boot");
        assert.equal(now.bootCount, 1);
      }
      const bb = await d.get("gone-f");
      assert.equal(bb.state, "crashed");
      assert.equal(bb.lastExit?.reason, "exited while daemon was down");

      // every adopted guest's console works again, and a command typed into each returns output
      for (const [i, n] of names.entries()) {
        const con = await d.console(n, n === "keep-a");
        if (n === "keep-a") await con.waitFor("written-while-down-49", 10_000);
        con.type(`echo adopted-${i}-$((11*11))\n`);
        await con.waitFor(`adopted-${i}-121`, 10_000);
        con.close();
      }
      // an adopted guest (not our child: its end is seen by watching its pid) reboots into a fresh process too
      const rb = await d.mustAct("keep-b", "reboot");
      assert.equal(rb.ready, true);
      assert.equal(rb.bootCount, 2);
      assert.notEqual(rb.pid, vms[1]!.pid, "a new process");
      const conC = await d.shell("keep-c");
      const ev = d.events.length;
      conC.type("reboot\n");
      await d.waitEvent((e) => e.type === "instance.ready" && e.instance === "keep-c", 30_000, ev);
      const c = await d.get("keep-c");
      assert.equal(c.bootCount, 2);
      assert.ok(c.pid && c.pid !== vms[2]!.pid, "a reboot from inside an adopted guest: a new process");
      conC.close();
      // and they can be paused, resumed and halted through the new daemon
      assert.equal((await d.mustAct("keep-a", "pause")).state, "paused");
      assert.equal((await d.mustAct("keep-a", "resume")).state, "running");
      for (const n of names) assert.equal((await d.mustAct(n, "halt")).state, "stopped");
      assert.deepEqual(guestPids(d.stateDir), [], "nothing left running");
      // the crashed one starts again
      assert.equal((await d.mustAct("gone-f", "start")).ready, true);
      await d.mustAct("gone-f", "halt");
    });
  });
}
