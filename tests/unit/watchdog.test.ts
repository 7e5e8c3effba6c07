import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cpuTicks, probeIntervalMs, Watchdog, type ProbeTarget } from "../../core/supervisor/watchdog.js";

/** A guest whose /proc/stat the test sets, on a clock the test moves. */
function guest(timeoutMs: number) {
  const g = {
    now: 0,
    ticks: 100 as number | null,
    excused: false,
    gone: false,
    hangs: [] as Array<{ sinceS: number; how: string }>,
  };
  const target: ProbeTarget = {
    excused: () => g.excused,
    gone: () => g.gone,
    stat: async () => {
      if (g.ticks === null) throw new Error("mconsole 'proc' timed out");
      return `cpu  ${g.ticks} 0 5 0 0\ncpu0 ${g.ticks} 0 5 0 0\nintr 1\n`;
    },
    hang: (sinceS, how) => g.hangs.push({ sinceS, how }),
  };
  const w = new Watchdog(timeoutMs, target, () => g.now);
  return { g, w };
}

describe("the hang watchdog's decisions", () => {
  it("a guest whose tick counters advance is never hung", async () => {
    const { g, w } = guest(3000);
    w.start();
    for (let i = 0; i < 10; i++) {
      g.now += 1000;
      g.ticks! += 7;
      await w.probe();
    }
    w.stop();
    assert.deepEqual(g.hangs, []);
  });

  it("counters that stay put for the timeout are a hang, reported once until the guest moves again", async () => {
    const { g, w } = guest(3000);
    w.start();
    await w.probe(); // the first reading is progress
    for (let i = 0; i < 5; i++) {
      g.now += 1000;
      await w.probe();
    }
    w.stop();
    assert.equal(g.hangs.length, 1);
    assert.deepEqual(g.hangs[0], { sinceS: 3, how: "the guest's CPU tick counters stayed at 105 (no timer interrupts)" });
    g.ticks! += 1;
    await w.probe();
    for (let i = 0; i < 3; i++) {
      g.now += 1000;
      await w.probe();
    }
    assert.equal(g.hangs.length, 2, "progress re-arms it");
  });

  it("a kernel that does not answer at all is hung too", async () => {
    const { g, w } = guest(2000);
    w.start();
    g.ticks = null;
    g.now += 2500;
    await w.probe();
    assert.equal(g.hangs.length, 1);
    assert.match(g.hangs[0]!.how, /^mconsole did not answer: mconsole 'proc' timed out/);
    w.stop();
  });

  it("a pause, an action under way or no mconsole yet excuses the guest, and restarts the count", async () => {
    const { g, w } = guest(2000);
    w.start();
    await w.probe();
    g.excused = true;
    g.now += 10_000;
    await w.probe();
    g.excused = false;
    g.now += 1000;
    await w.probe();
    assert.deepEqual(g.hangs, [], "1 s since the excuse ended");
    g.gone = true;
    g.now += 10_000;
    await w.probe();
    assert.deepEqual(g.hangs, [], "nothing to probe once the process is gone");
    w.stop();
  });

  it("parses the cpu line and probes a third of the timeout, between 0.5 and 5 s", () => {
    assert.equal(cpuTicks("cpu  1 2 3 4 5 6 7 0 0 0\ncpu0 1 2 3 4 5 6 7 0 0 0\n"), 28);
    assert.equal(cpuTicks("intr 1\n"), null);
    assert.equal(probeIntervalMs(900), 500);
    assert.equal(probeIntervalMs(9000), 3000);
    assert.equal(probeIntervalMs(60_000), 5000);
  });
});
