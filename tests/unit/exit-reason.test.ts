import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { classifyExit, type ExitFacts } from "../../core/supervisor/exit-reason.js";

const base: ExitFacts = { code: null, signal: null, stopRequested: null, panicMessage: null, consoleTail: "" };
// the end of a busybox guest's console after `poweroff` (recorded)
const HALTED_TAIL = "po-0:/# \x1b[6numount: devtmpfs busy - remounted read-only\r\nEXT4-fs (ubda): re-mounted. Quota mode: none.\n\r" +
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
    assert.deepEqual(classifyExit({ ...base, signal: "SIGABRT", panicMessage: "sysrq triggered crash", consoleTail: "panic-1:/# " }), { reason: "kernel panic: sysrq triggered crash", requested: false });
    assert.deepEqual(classifyExit({ ...base, signal: "SIGKILL" }), { reason: "killed by SIGKILL", requested: false });
    assert.deepEqual(classifyExit({ ...base, code: 1 }), { reason: "exited with status 1", requested: false });
    // a guest that echoes the words mid-line has not halted
    assert.equal(classifyExit({ ...base, signal: "SIGABRT", panicMessage: "x", consoleTail: "# echo reboot: System halted\r\n" }).requested, false);
  });

  it("a panic whose notification never came is read from the console (SIGABRT only)", () => {
    const tail = "Run /sbin/init as init process\n" +
      "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(98,0)\nCPU: 0 PID: 1 Comm: swapper Not tainted 6.1.176 #1\n" +
      "Stack:\n 606944ba 607e7fcd 61573b80 6067bb96\nCall Trace:\n [<60002a75>] mount_root+0x1f0/0x1ff\n";
    assert.deepEqual(classifyExit({ ...base, signal: "SIGABRT", consoleTail: tail }), { reason: "kernel panic: VFS: Unable to mount root fs on unknown-block(98,0)", requested: false });
    assert.equal(classifyExit({ ...base, signal: "SIGABRT", panicMessage: "from notify", consoleTail: tail }).reason, "kernel panic: from notify");
    assert.equal(classifyExit({ ...base, signal: "SIGKILL", consoleTail: tail }).reason, "killed by SIGKILL");
  });

  it("a deliberate non-zero /proc/exitcode stays a crash even after the halt line", () => {
    assert.deepEqual(classifyExit({ ...base, code: 3, consoleTail: HALTED_TAIL }), { reason: "exited with status 3", requested: false });
  });
});
