import type { Logger } from "pino";
import type { UsageSample } from "../../protocol/usage.js";
import { ramFileBytes, ramFileFd } from "../guest/host-memory.js";
import { parseMeminfo } from "../guest/proc-parse.js";
import { cpuUsage, type CgroupLayout } from "../jail/cgroups.js";
import { isActive } from "../lifecycle/transitions.js";
import { nicCounters, type NicCounters } from "../network/nic-counters.js";
import type { InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import { UsageHistory } from "./usage-history.js";

/** What the sampler reads of the rest of core (wired by core/instances/instances.ts). */
export interface UsageSources {
  repo: InstancesRepo;
  hasGuest(id: string): boolean;
  /** the guest's NICs that have a host interface (TAP) */
  hostInterfaces(id: string): Array<{ slot: string; hostInterface: string }>;
  cgroups: CgroupLayout | null;
  /** the guest's cgroup name under umld's parent */
  cgroupOf(row: InstanceRow): string;
  /** where the guest's RAM file lives (its jail's tmpfs) */
  ramDirOf(id: string): string;
  mconsole(name: string, command: string, timeoutMs?: number): Promise<string>;
  log: Logger;
}

export interface SamplerTiming {
  /** a reading of every running guest this often */
  everyMs: number;
  /** one reading kept for the history this often (an hour of them is kept) */
  keepEveryMs: number;
  /** the guest's own MemAvailable (an mconsole round trip) this often per guest */
  guestMemoryEveryMs: number;
}
export const DEFAULT_TIMING: SamplerTiming = { everyMs: 5000, keepEveryMs: 30_000, guestMemoryEveryMs: 30_000 };

/** Guests read per turn of the event loop: a thousand guests never hold it for long. */
const CHUNK = 100;
/** mconsole meminfo requests outstanding at once. */
const GUEST_MEMORY_IN_FLIGHT = 8;

/** What the metrics need of one running guest, from the last reading. */
export interface GuestFigures {
  cpuSeconds: number | null;
  memoryHostBytes: number | null;
  memoryGuestAvailableBytes: number | null;
  nics: Array<{ slot: string; counters: NicCounters }>;
}

interface Live {
  pid: number;
  ramFd: number | null;
  latest: UsageSample;
  figures: GuestFigures;
  at: number;
  guestMemoryAt: number;
  guestMemoryBusy: boolean;
}

/**
 * Usage of every running guest, read on a timer, never on request: CPU from
 * its cgroup, host memory from its RAM file, traffic from its TAPs, and
 * (less often, it costs an mconsole round trip) the guest's MemAvailable.
 * /metrics, GET /usage and the history all read what it cached.
 */
export class UsageSampler {
  private readonly live = new Map<string, Live>();
  private readonly histories = new Map<string, UsageHistory>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private stopped = false;
  private guestMemoryInFlight = 0;

  constructor(
    private readonly s: UsageSources,
    readonly timing: SamplerTiming = DEFAULT_TIMING,
  ) {}

  start(): void {
    const tick = () => void this.sampleAll().catch((err: unknown) => this.s.log.error({ err }, "usage sampling failed"));
    tick();
    this.timer = setInterval(tick, this.timing.everyMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  /** The latest reading of a running guest, or null. */
  latest(id: string): UsageSample | null {
    return this.live.get(id)?.latest ?? null;
  }

  /** The figures /metrics shows of a running guest, or null. */
  figures(id: string): GuestFigures | null {
    return this.live.get(id)?.figures ?? null;
  }

  /** The kept readings of the last hour, oldest first (rates between kept readings). */
  history(id: string): UsageSample[] {
    return this.histories.get(id)?.samples() ?? [];
  }

  /** Reads every running guest now (chunked); guests gone or stopped are forgotten. */
  async sampleAll(now = Date.now()): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const rows = this.s.repo.all();
      const seen = new Set<string>();
      for (let i = 0; i < rows.length; i += CHUNK) {
        if (this.stopped) return;
        for (const r of rows.slice(i, i + CHUNK)) {
          if (r.pid === null || !isActive(r.state) || !this.s.hasGuest(r.id)) continue;
          seen.add(r.id);
          this.sampleOne(r, now);
        }
        if (i + CHUNK < rows.length) await new Promise((res) => setImmediate(res));
      }
      for (const id of this.live.keys()) if (!seen.has(id)) this.live.delete(id);
      const exists = new Set(rows.map((r) => r.id));
      for (const id of this.histories.keys()) if (!exists.has(id)) this.histories.delete(id);
    } finally {
      this.running = false;
    }
  }

  private sampleOne(r: InstanceRow, now: number): void {
    const pid = r.pid!;
    let l = this.live.get(r.id);
    if (l && l.pid !== pid) l = undefined; // a new boot: its counters start again
    const ramDir = this.s.ramDirOf(r.id);
    let ramFd = l?.ramFd ?? null;
    let host = ramFd === null ? null : ramFileBytes(pid, ramFd, ramDir);
    if (host === null) {
      ramFd = ramFileFd(pid, ramDir);
      host = ramFd === null ? null : ramFileBytes(pid, ramFd, ramDir);
    }
    const cpu = this.s.cgroups ? cpuUsage(this.s.cgroups, this.s.cgroupOf(r)) : null;
    const nics: GuestFigures["nics"] = [];
    for (const n of this.s.hostInterfaces(r.id)) {
      const counters = nicCounters(n.hostInterface);
      if (counters) nics.push({ slot: n.slot, counters });
    }
    const sum = (k: keyof NicCounters) => (nics.length ? nics.reduce((a, n) => a + n.counters[k], 0) : null);
    const prev = l?.latest;
    const dt = l ? (now - l.at) / 1000 : 0;
    const rate = (cur: number | null, old: number | null | undefined, scale = 1) => (dt > 0 && cur !== null && old !== null && old !== undefined && cur >= old ? ((cur - old) / dt) * scale : null);
    const guestAvail = l?.figures.memoryGuestAvailableBytes ?? null;
    const sample: UsageSample = {
      at: new Date(now).toISOString(),
      cpuSeconds: cpu,
      cpuPercent: rate(cpu, prev?.cpuSeconds, 100),
      memoryTargetBytes: r.memory_mib * 1048576,
      memoryHostBytes: host,
      memoryGuestAvailableBytes: guestAvail,
      rxBytes: sum("rxBytes"),
      txBytes: sum("txBytes"),
      rxPackets: sum("rxPackets"),
      txPackets: sum("txPackets"),
      rxBytesPerS: rate(sum("rxBytes"), prev?.rxBytes),
      txBytesPerS: rate(sum("txBytes"), prev?.txBytes),
    };
    const next: Live = {
      pid,
      ramFd,
      latest: sample,
      at: now,
      figures: { cpuSeconds: cpu, memoryHostBytes: host, memoryGuestAvailableBytes: guestAvail, nics },
      guestMemoryAt: l?.guestMemoryAt ?? 0,
      guestMemoryBusy: l?.guestMemoryBusy ?? false,
    };
    this.live.set(r.id, next);
    let h = this.histories.get(r.id);
    if (!h) this.histories.set(r.id, (h = new UsageHistory(this.timing.keepEveryMs)));
    h.offer(now, sample);
    if (r.state === "running" && r.ready === 1) this.maybeReadGuestMemory(r, next, now);
  }

  /** The guest's MemAvailable, every guestMemoryEveryMs at most, a few requests at a time. */
  private maybeReadGuestMemory(r: InstanceRow, l: Live, now: number): void {
    if (l.guestMemoryBusy || now - l.guestMemoryAt < this.timing.guestMemoryEveryMs || this.guestMemoryInFlight >= GUEST_MEMORY_IN_FLIGHT) return;
    l.guestMemoryBusy = true;
    this.guestMemoryInFlight++;
    this.s
      .mconsole(r.name, "proc meminfo", 2000)
      .then(
        (text) => {
          const kib = parseMeminfo(text).MemAvailable;
          const cur = this.live.get(r.id);
          if (cur && cur.pid === l.pid && kib !== undefined) {
            cur.figures.memoryGuestAvailableBytes = kib * 1024;
            cur.latest.memoryGuestAvailableBytes = kib * 1024;
          }
        },
        () => {}, // a busy or booting guest: the next turn asks again
      )
      .finally(() => {
        this.guestMemoryInFlight--;
        const cur = this.live.get(r.id);
        if (cur) {
          cur.guestMemoryBusy = false;
          cur.guestMemoryAt = Date.now();
        }
      });
  }
}
