import { readFileSync } from "node:fs";
import { INSTANCE_STATES, type InstanceState } from "../../protocol/instances.js";
import type { EventBus } from "../events/bus.js";
import { parseMeminfo } from "../guest/proc-parse.js";
import { isActive } from "../lifecycle/transitions.js";
import type { InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import { CRASH_CLASSES, crashClass, type CrashClass } from "./crash-reasons.js";
import type { GuestFigures, UsageSampler } from "./usage-sampler.js";

/** One instance's figures for /metrics. */
export interface InstanceMetrics {
  /** stored name (`<tenant>.<name>` for a tenant's) */
  name: string;
  tenant: string | null;
  state: InstanceState;
  ready: boolean;
  memoryTargetBytes: number;
  memoryMaxBytes: number;
  diskAllocatedBytes: number;
  boots: number;
  uptimeS: number | null;
  /** crashes since the daemon started, by class */
  crashes: Record<CrashClass, number>;
  /** the sampler's last reading; null while not running */
  live: GuestFigures | null;
}

export interface HostMetrics {
  instancesByState: Record<InstanceState, number>;
  /** the memory targets of active guests: what they may hold on the host */
  memoryCommittedBytes: number;
  memoryAvailableBytes: number | null;
  /** guests with a supervisor worker */
  supervisors: number;
}

export interface MetricsSources {
  repo: InstancesRepo;
  sampler: UsageSampler;
  allocated(r: InstanceRow): number;
  hasGuest(id: string): boolean;
  bus: EventBus;
}

/**
 * The figures /metrics is built from, all from cached state: instance rows
 * (one query), the sampler's last readings, cached file sizes, crash counts
 * kept from the events. No guest is asked anything on a scrape.
 */
export class MetricsSource {
  private readonly crashes = new Map<string, Record<CrashClass, number>>();

  constructor(private readonly s: MetricsSources) {
    s.bus.on("event", (e) => {
      if (e.type === "instance.state" && e.to === "crashed") {
        const c = this.crashes.get(e.instance) ?? zeroCrashes();
        c[crashClass(e.reason)]++;
        this.crashes.set(e.instance, c);
      } else if (e.type === "instance.deleted") this.crashes.delete(e.instance);
    });
  }

  read(): { instances: InstanceMetrics[]; host: HostMetrics } {
    const rows = this.s.repo.all();
    const now = Date.now();
    const byState = Object.fromEntries(INSTANCE_STATES.map((s) => [s, 0])) as Record<InstanceState, number>;
    let committed = 0;
    let supervisors = 0;
    const instances = rows.map((r): InstanceMetrics => {
      byState[r.state]++;
      const active = isActive(r.state);
      if (active) committed += r.memory_mib * 1048576;
      if (this.s.hasGuest(r.id)) supervisors++;
      return {
        name: r.name,
        tenant: r.owner,
        state: r.state,
        ready: r.ready === 1,
        memoryTargetBytes: r.memory_mib * 1048576,
        memoryMaxBytes: r.max_memory_mib * 1048576,
        diskAllocatedBytes: this.s.allocated(r),
        boots: r.boot_count,
        uptimeS: r.started_at && active ? Math.max(0, (now - Date.parse(r.started_at)) / 1000) : null,
        crashes: this.crashes.get(r.name) ?? zeroCrashes(),
        live: active ? this.s.sampler.figures(r.id) : null,
      };
    });
    return { instances, host: { instancesByState: byState, memoryCommittedBytes: committed, memoryAvailableBytes: hostAvailable(), supervisors } };
  }
}

function zeroCrashes(): Record<CrashClass, number> {
  return Object.fromEntries(CRASH_CLASSES.map((c) => [c, 0])) as Record<CrashClass, number>;
}

function hostAvailable(): number | null {
  try {
    const kib = parseMeminfo(readFileSync("/proc/meminfo", "utf8")).MemAvailable;
    return kib === undefined ? null : kib * 1024;
  } catch {
    return null;
  }
}
