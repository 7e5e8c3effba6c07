import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { classifyExit, EndLineTracker, type ExitFacts } from "../../core/supervisor/exit-reason.js";

const base: ExitFacts = { code: null, signal: null, stopRequested: null, panicMessage: null, consoleTail: "" };
// the end of a busybox guest's console after `poweroff` (recorded)
const HALTED_TAIL =
  "po-0:/# \x1b[6numount: devtmpfs busy - remounted read-only\r\nEXT4-fs (ubda): re-mounted. Quota mode: none.\n\r" +
  "The system is going down NOW!\r\n\rSent SIGTERM to all processes\r\n\rSent SIGKILL to all processes\r\n\rRequesting system poweroff\r\nreboot: System halted\n";

describe("how a guest's end is classified", () => {
  it("a stop umld asked for is requested, whatever the process did", () => {
    assert.deepEqual(classifyExit({ ...base, stopRequested: "halted", signal: "SIGABRT", panicMessage: "x" }), { reason: "halted", requested: true });
  });

  it("status 0 is the guest powering off", () => {
    assert.deepEqual(classifyExit({ ...base, code: 0, consoleTail: HALTED_TAIL }), { reason: "guest powered off", requested: true });
  });

  it("a guest that had halted when UML panicked in its own teardown powered off (seen under load: SIGABRT after 'reboot: System halted')", () => {
    const r = classifyExit({ ...base, signal: "SIGABRT", panicMessage: "Kernel mode fault at addr 0x7ffffffff000, ip 0x6002fb78", consoleTail: HALTED_TAIL });
    assert.deepEqual(r, { reason: "guest powered off", requested: true, diedAfterHalt: true });
    const off = classifyExit({ ...base, signal: "SIGSEGV", consoleTail: "Requesting system poweroff\r\nreboot: Power down\r\n" });
    assert.equal(off.reason, "guest powered off");
  });

  it("an adopted guest (status unknown) that printed the halt line powered off", () => {
    assert.deepEqual(classifyExit({ ...base, consoleTail: HALTED_TAIL }), { reason: "guest powered off", requested: true, diedAfterHalt: false });
    assert.equal(classifyExit(base).reason, "process ended (exit status unknown: adopted after a daemon restart)");
  });

  it("a panic, a signal or a non-zero status without the kernel's halt line is a crash", () => {
    assert.deepEqual(classifyExit({ ...base, signal: "SIGABRT", panicMessage: "sysrq triggered crash", consoleTail: "panic-1:/# " }), {
      reason: "kernel panic: sysrq triggered crash",
      requested: false,
    });
    assert.deepEqual(classifyExit({ ...base, signal: "SIGKILL" }), { reason: "killed by SIGKILL", requested: false });
    assert.deepEqual(classifyExit({ ...base, code: 1 }), { reason: "exited with status 1", requested: false });
    // a guest that echoes the words mid-line has not halted
    assert.equal(classifyExit({ ...base, signal: "SIGABRT", panicMessage: "x", consoleTail: "# echo reboot: System halted\r\n" }).requested, false);
  });

  it("a panic whose notification never came is read from the console (SIGABRT only)", () => {
    const tail =
      "Run /sbin/init as init process\n" +
      "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(98,0)\nCPU: 0 PID: 1 Comm: swapper Not tainted 6.1.176 #1\n" +
      "Stack:\n 606944ba 607e7fcd 61573b80 6067bb96\nCall Trace:\n [<60002a75>] mount_root+0x1f0/0x1ff\n";
    assert.deepEqual(classifyExit({ ...base, signal: "SIGABRT", consoleTail: tail }), { reason: "kernel panic: VFS: Unable to mount root fs on unknown-block(98,0)", requested: false });
    assert.equal(classifyExit({ ...base, signal: "SIGABRT", panicMessage: "from notify", consoleTail: tail }).reason, "kernel panic: from notify");
    assert.equal(classifyExit({ ...base, signal: "SIGKILL", consoleTail: tail }).reason, "killed by SIGKILL");
  });

  it("a deliberate non-zero /proc/exitcode stays a crash even after the halt line", () => {
    assert.deepEqual(classifyExit({ ...base, code: 3, consoleTail: HALTED_TAIL }), { reason: "exited with status 3", requested: false });
  });

  describe("a reboot (guests boot with noreboot: a reboot ends the process with status 0) or a power-off", () => {
    const REBOOT_TAIL = "web-1:/# reboot\r\nThe system is going down NOW!\r\nSent SIGTERM to all processes\r\nRequesting system reboot\r\nreboot: Restarting system\n";

    it("status 0 after 'reboot: Restarting system' is a reboot; after the halt line or none, a power-off", () => {
      assert.deepEqual(classifyExit({ ...base, code: 0, consoleTail: REBOOT_TAIL }), { reason: "guest rebooted", requested: true, reboot: true });
      assert.deepEqual(classifyExit({ ...base, code: 0, consoleTail: "reboot: Restarting system with command 'x'\n" }).reboot, true);
      assert.deepEqual(classifyExit({ ...base, code: 0, consoleTail: HALTED_TAIL }), { reason: "guest powered off", requested: true });
      assert.deepEqual(classifyExit({ ...base, code: 0 }), { reason: "guest powered off", requested: true });
    });

    it("the last such line wins; a stop umld asked for wins over all; a reboot umld asked for is one however it ended", () => {
      assert.equal(classifyExit({ ...base, code: 0, consoleTail: `${REBOOT_TAIL}reboot: Power down\n` }).reboot, undefined);
      assert.deepEqual(classifyExit({ ...base, code: 0, stopRequested: "shut down", consoleTail: REBOOT_TAIL }), { reason: "shut down", requested: true });
      assert.deepEqual(classifyExit({ ...base, signal: "SIGSEGV", rebootRequested: true }), { reason: "reboot requested", requested: true, reboot: true });
      assert.deepEqual(classifyExit({ ...base, code: 0, stopRequested: "halted", rebootRequested: true }), { reason: "halted", requested: true });
    });

    it("UML dying in its teardown after the restart line is still a reboot; a halt line typed mid-line is no halt", () => {
      assert.deepEqual(classifyExit({ ...base, signal: "SIGABRT", panicMessage: "Segfault with no mm", consoleTail: REBOOT_TAIL }), {
        reason: "guest rebooted",
        requested: true,
        reboot: true,
        diedAfterHalt: true,
      });
      assert.equal(classifyExit({ ...base, signal: "SIGABRT", panicMessage: "x", consoleTail: "web-1:/# echo reboot: System halted\r\n" }).requested, false);
    });

    it("ctrl-alt-del the kernel handles itself restarts with no message before: its line follows the prompt", () => {
      const tail = "<<done-1007>>\r\nweb-1:/# \x1b[6nreboot: Restarting system\n";
      assert.deepEqual(classifyExit({ ...base, code: 0, consoleTail: tail }), { reason: "guest rebooted", requested: true, reboot: true });
    });

    it("sysrq b: its line may follow a prompt and be followed by more than any tail keeps, so the line is followed as it streams", () => {
      const t = new EndLineTracker();
      t.push("web-1:/# \x1b[6n");
      t.push("sysrq: Resetting\n------------[ cut here ]------------\nWARNING: CPU: 0 PID: 0 at kernel/irq/manage.c:1872 free_irq+0x7d/0x2e8\n");
      for (let i = 0; i < 200; i++) t.push(" [<606944ba>] ? _printk+0x0/0x94\n");
      assert.equal(t.last, "restart");
      assert.deepEqual(classifyExit({ ...base, code: 0, consoleTail: "(only the warning's end)", endLine: t.last }), { reason: "guest rebooted", requested: true, reboot: true });
      t.push("...\nreboot: System halted\n");
      assert.equal(t.last, "halt");
      t.reset();
      assert.equal(t.last, null);
      t.push("reboot: Power down\n");
      assert.equal(t.last, "halt", "at the very start of a boot's output a line begins");
    });
  });
});
