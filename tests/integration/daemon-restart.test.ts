import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { guestPids, TestDaemon } from "../harness/daemon.js";

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

    it("keeps guests running, reports one killed meanwhile as crashed, and adopts the others", async () => {
      const first = await TestDaemon.start();
      d = first;
      await first.create("keep-a");
      const gone = await first.create("gone-b");
      const a = await first.mustAct("keep-a", "start");
      await first.mustAct("gone-b", "start");
      const b = await first.get("gone-b");
      const con0 = await first.shell("keep-a");
      con0.close();

      await first.kill(signal);
      assert.ok(alive(a.pid!) && alive(b.pid!), "guests keep running without the daemon");
      process.kill(-b.pid!, "SIGKILL"); // one guest dies while nobody watches
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(guestPids(first.stateDir, gone.id), []);

      d = await TestDaemon.start({ stateDir: first.stateDir });
      const aa = await d.get("keep-a");
      assert.equal(aa.state, "running");
      assert.equal(aa.pid, a.pid, "the same process, not a new boot");
      assert.equal(aa.bootCount, 1);
      const bb = await d.get("gone-b");
      assert.equal(bb.state, "crashed");
      assert.equal(bb.lastExit?.reason, "exited while daemon was down");

      // the adopted guest's console works again, and it answers
      const con = await d.console("keep-a", false);
      con.type("echo adopted-$((11*11))\n");
      await con.waitFor("adopted-121", 10_000);
      con.close();
      // and it can be paused, resumed and halted through the new daemon
      assert.equal((await d.mustAct("keep-a", "pause")).state, "paused");
      assert.equal((await d.mustAct("keep-a", "resume")).state, "running");
      const halted = await d.mustAct("keep-a", "halt");
      assert.equal(halted.state, "stopped");
      assert.deepEqual(guestPids(d.stateDir), [], "nothing left running");
      // the crashed one starts again
      assert.equal((await d.mustAct("gone-b", "start")).ready, true);
      await d.mustAct("gone-b", "halt");
    });
  });
}
