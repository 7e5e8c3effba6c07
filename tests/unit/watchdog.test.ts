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

/** A guest whose host-side picture (its kernel's CPU time, its console) and answers the test sets, on a clock it moves. */
function watched(timeoutMs: number) {
  const g = { now: 0, ticks: 100, cpuNs: 0 as number | null, console: 0, asked: 0, answers: true, hangs: [] as string[] };
  const w = new Watchdog(
    timeoutMs,
    {
      excused: () => false,
      gone: () => false,
      stat: async () => {
        g.asked++;
        if (!g.answers) throw new Error("timed out");
        return `cpu  ${g.ticks} 0 0 0\n`;
      },
      hang: (_s, how) => g.hangs.push(how),
      host: () => ({ cpuNs: g.cpuNs, consoleBytes: g.console }),
    },
    () => g.now,
  );
  /** one check interval passes: an idle kernel takes its ticks (0.02 % of a core) */
  const idle = async (n: number, step: number) => {
    for (let i = 0; i < n; i++) {
      g.now += step;
      g.ticks += 1;
      g.cpuNs! += step * 1e6 * 0.0002;
      await w.check();
    }
  };
  return { g, w, idle };
}

describe("the hang probe's schedule: the host's side first, the guest when due", () => {
  it("a quiet guest is asked less and less often, down to once per timeout", async () => {
    const { g, w, idle } = watched(30_000); // checks every 5 s
    await idle(1, 5000);
    assert.equal(g.asked, 1, "the first check asks");
    await idle(24, 5000); // 2 minutes
    assert.equal(w.askIntervalMs, 30_000);
    assert.ok(g.asked <= 6, `asked ${g.asked} times in 2 minutes (every check would be 25)`);
    assert.deepEqual(g.hangs, []);
  });

  it("console output or a busy kernel resets it: the guest is asked at the next check", async () => {
    const { g, w, idle } = watched(30_000);
    await idle(12, 5000);
    const before = g.asked;
    g.console += 80; // the guest printed something
    await idle(1, 5000);
    assert.equal(g.asked, before + 1);
    assert.equal(w.askIntervalMs, 10_000, "back to the base interval, doubled by that answer");
    await idle(6, 5000);
    const quietAgain = g.asked;
    g.now += 5000;
    g.cpuNs! += 5000 * 1e6; // a whole core for 5 s: busy, or spinning
    await w.check();
    assert.equal(g.asked, quietAgain + 1);
  });

  it("a kernel that takes no CPU at all is asked at every check, and a hang is reported within the timeout and a check", async () => {
    const { g, idle, w } = watched(15_000);
    await idle(20, 5000);
    const before = g.asked;
    const frozenAt = g.now;
    for (let i = 0; i < 4; i++) {
      g.now += 5000; // frozen: no ticks, no CPU
      await w.check();
    }
    assert.equal(g.asked, before + 4);
    assert.equal(g.hangs.length, 1, `reported by ${g.now - frozenAt} ms`);
    assert.match(g.hangs[0]!, /tick counters stayed/);
  });

  it("a guest hung while looking quiet to the host is still reported, within twice the timeout", async () => {
    const { g, idle, w } = watched(15_000);
    await idle(20, 5000); // backed off
    const hungAt = g.now;
    for (let i = 0; i < 12 && g.hangs.length === 0; i++) {
      g.now += 5000;
      g.cpuNs! += 1000; // still a little CPU, but no ticks and no answers
      g.answers = false;
      await w.check();
    }
    assert.equal(g.hangs.length, 1);
    assert.ok(g.now - hungAt <= 30_000, `reported after ${g.now - hungAt} ms`);
  });

  it("without a host-side picture, every check asks", async () => {
    const { g, w } = guest(30_000);
    for (let i = 0; i < 5; i++) {
      g.now += 5000;
      g.ticks! += 1;
      await w.check();
    }
    assert.deepEqual(g.hangs, []);
  });
});
