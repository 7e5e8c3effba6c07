import assert from "node:assert/strict";
import { describe, it } from "node:test";
import pino from "pino";
import { EventBus } from "../../core/events/bus.js";
import type { MemSample } from "../../core/guest/reclaim-policy.js";
import type { CpuAccounting } from "../../core/instances/cpu-accounting.js";
import type { LiveMemory } from "../../core/instances/live-memory.js";
import { MemoryReclaimer } from "../../core/instances/memory-reclaim.js";
import { Registry, type Runtime } from "../../core/instances/registry.js";
import type { InstanceRow, InstancesRepo } from "../../core/store/instances-repo.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function row(id: string, o: Partial<InstanceRow> = {}): InstanceRow {
  return {
    id,
    name: id,
    owner: null,
    state: "running",
    ready: 1,
    memory_mib: 256,
    max_memory_mib: 256,
    unplugged_mib: 0,
    boot_count: 1,
    pid: null,
    memory_reclaim: "auto",
    ...o,
  } as InstanceRow;
}

/** Guests that answer meminfo at once with lots of free memory, except those listed as hung (never answer). */
function fakes(rows: InstanceRow[], hung: Set<string>) {
  const asked = new Map<string, number>();
  const steps: Array<{ name: string; op: string; amount: number }> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const registry = new Registry();
  for (const r of rows) registry.set(r.id, { cgroup: null } as unknown as Runtime);
  const repo = { all: () => rows, byId: (id: string) => rows.find((r) => r.id === id) } as unknown as InstancesRepo;
  const memory = {
    isSettled: () => true,
    async sample(name: string, timeoutMs: number): Promise<MemSample> {
      asked.set(name, (asked.get(name) ?? 0) + 1);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        if (hung.has(name)) {
          await sleep(timeoutMs);
          throw new Error("mconsole timed out");
        }
        await sleep(2);
        return { at: Date.now(), freeKiB: 200 * 1024, availKiB: 200 * 1024 };
      } finally {
        inFlight--;
      }
    },
    async reclaimStep(name: string, op: string, amount: number) {
      steps.push({ name, op, amount });
      const r = rows.find((x) => x.name === name)!;
      r.unplugged_mib += op === "unplug" ? amount : -amount;
      return amount;
    },
  } as unknown as LiveMemory;
  const cpu = { sample: () => null } as unknown as CpuAccounting;
  return { asked, steps, registry, repo, memory, cpu, maxInFlight: () => maxInFlight };
}

describe("memory reclaimer", () => {
  it("reclaims the guests that answer while one never does, with few requests in flight", async () => {
    const rows = ["a", "b", "c", "hung"].map((id) => row(id));
    const f = fakes(rows, new Set(["hung"]));
    const r = new MemoryReclaimer(f.repo, f.registry, f.memory, f.cpu, new EventBus(), pino({ level: "silent" }), () => "/nowhere", {
      tickMs: 5,
      activeNs: 1,
      growthBytes: 1,
      maxInFlight: 2,
      sampleTimeoutMs: 100,
      maxBackoffMs: 10_000,
    });
    // guests count as quiet after RECLAIM.quietMs: start them as long quiet
    r.start();
    try {
      await sleep(300);
      assert.deepEqual(r.watching().sort(), ["a", "b", "c", "hung"]);
      assert.ok(f.maxInFlight() <= 2, `at most 2 requests at once: ${f.maxInFlight()}`);
      assert.ok((f.asked.get("hung") ?? 0) <= 3, `the hung guest is backed off: asked ${f.asked.get("hung")} times`);
      for (const n of ["a", "b", "c"]) assert.ok((f.asked.get(n) ?? 0) >= 1, `${n} was looked at`);
    } finally {
      r.stop();
    }
  });

  it("watches only running, ready, settled guests with reclaim auto", async () => {
    const rows = [row("on"), row("off", { memory_reclaim: "off" }), row("stopped", { state: "stopped" }), row("booting", { ready: 0 })];
    const f = fakes(rows, new Set());
    const r = new MemoryReclaimer(f.repo, f.registry, f.memory, f.cpu, new EventBus(), pino({ level: "silent" }), () => "/nowhere", {
      tickMs: 5,
      activeNs: 1,
      growthBytes: 1,
      maxInFlight: 4,
      sampleTimeoutMs: 100,
      maxBackoffMs: 1000,
    });
    r.start();
    try {
      await sleep(50);
      assert.deepEqual(r.watching(), ["on"]);
      rows[3]!.ready = 1;
      r.refresh();
      await sleep(50);
      assert.deepEqual(r.watching().sort(), ["booting", "on"]);
    } finally {
      r.stop();
    }
  });
});
