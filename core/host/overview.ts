import { readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import type { HostView } from "../../protocol/host.js";
import { INSTANCE_STATES, type InstanceView } from "../../protocol/instances.js";
import { parseMeminfo } from "../guest/proc-parse.js";

/**
 * The host overview (GET /v1/host) from cached state and /proc only: no guest
 * is asked anything, so it is cheap enough for a dashboard to load at will.
 */
export function hostOverview(instances: readonly InstanceView[], daemon: { version: string; uptimeS: number }, meminfo = readFileSync("/proc/meminfo", "utf8")): HostView {
  const byState: Record<string, number> = Object.fromEntries(INSTANCE_STATES.map((s) => [s, 0]));
  let committedMiB = 0;
  let targetMiB = 0;
  for (const i of instances) {
    byState[i.state] = (byState[i.state] ?? 0) + 1;
    if (i.pid === null) continue;
    committedMiB += i.maxMemoryMiB;
    targetMiB += i.memoryMiB;
  }
  const m = parseMeminfo(meminfo);
  const [l1, l5, l15] = loadavg();
  return {
    daemonVersion: daemon.version,
    uptimeS: daemon.uptimeS,
    cpus: availableParallelism(),
    loadAverage: [l1 ?? 0, l5 ?? 0, l15 ?? 0],
    instances: { total: instances.length, byState },
    memory: { totalMiB: Math.floor((m.MemTotal ?? 0) / 1024), availableMiB: Math.floor((m.MemAvailable ?? m.MemFree ?? 0) / 1024), committedMiB, targetMiB },
  };
}
