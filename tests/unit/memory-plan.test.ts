import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { measuredChangeMiB, planMemoryChange, safetyFloorMiB } from "../../core/guest/memory-plan.js";
import { parseLoadavg, parseMeminfo, parseUptime } from "../../core/guest/proc-parse.js";

describe("live memory planning", () => {
  it("keeps a safety floor of 10% of the boot size, at least 24 MiB", () => {
    assert.equal(safetyFloorMiB(64), 24);
    assert.equal(safetyFloorMiB(256), 26);
    assert.equal(safetyFloorMiB(1024), 103);
  });

  it("unplugs the difference when the guest has room, and only down to the floor when not", () => {
    assert.deepEqual(planMemoryChange({ maxMiB: 256, unpluggedMiB: 0, targetMiB: 96, memFreeMiB: 220 }), { op: "unplug", amountMiB: 160, limitedBy: null });
    assert.deepEqual(planMemoryChange({ maxMiB: 256, unpluggedMiB: 0, targetMiB: 40, memFreeMiB: 80 }), { op: "unplug", amountMiB: 54, limitedBy: "safety-floor" });
    assert.deepEqual(planMemoryChange({ maxMiB: 256, unpluggedMiB: 0, targetMiB: 40, memFreeMiB: 20 }), { op: "none", amountMiB: 0, limitedBy: "safety-floor" });
  });

  it("re-plugs exactly what was unplugged, never more", () => {
    assert.deepEqual(planMemoryChange({ maxMiB: 256, unpluggedMiB: 160, targetMiB: 224, memFreeMiB: 50 }), { op: "plug", amountMiB: 128, limitedBy: null });
    assert.deepEqual(planMemoryChange({ maxMiB: 256, unpluggedMiB: 160, targetMiB: 96, memFreeMiB: 50 }), { op: "none", amountMiB: 0, limitedBy: null });
  });

  it("counts what really moved from MemFree, within 2 MiB of noise, never more than asked", () => {
    assert.equal(measuredChangeMiB(100, 200 * 1024, 101 * 1024, "unplug"), 100);
    assert.equal(measuredChangeMiB(100, 200 * 1024, 160 * 1024, "unplug"), 40);
    assert.equal(measuredChangeMiB(100, 200 * 1024, 250 * 1024, "unplug"), 0);
    assert.equal(measuredChangeMiB(64, 10 * 1024, 80 * 1024, "plug"), 64);
  });
});

describe("guest /proc parsers (mconsole proc replies start with a newline)", () => {
  it("parses meminfo, uptime and loadavg", () => {
    const m = parseMeminfo("\nMemTotal:         246704 kB\nMemFree:          231720 kB\nHugePages_Total:       0\nActive(anon):        12 kB\n");
    assert.deepEqual(m, { MemTotal: 246704, MemFree: 231720, HugePages_Total: 0, "Active(anon)": 12 });
    assert.deepEqual(parseUptime("\n12.34 5.67\n"), { uptimeS: 12.34, idleS: 5.67 });
    assert.deepEqual(parseLoadavg("\n0.01 0.05 0.10 1/23 456\n"), [0.01, 0.05, 0.1]);
    assert.throws(() => parseUptime("garbage"));
  });
});
