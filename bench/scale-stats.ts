/** Measuring helpers of bench/scale.ts: percentiles, the API prober, a process's RSS and CPU time, cgroup totals. */
import { existsSync, readFileSync } from "node:fs";

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length - 1) * p))]!;
}

export const fmtMs = (x: number) => (Number.isNaN(x) ? "–" : x < 10 ? x.toFixed(2) : x.toFixed(0));

/**
 * Asks the daemon, one request at a time, `GET /v1/health` then
 * `GET /v1/instances`, with a pause between rounds, and files each latency
 * (request sent → whole body read) under the phase it started in.
 */
export class Prober {
  private phase: string | null = null;
  private running = false;
  private loop: Promise<void> = Promise.resolve();
  readonly samples = new Map<string, { health: number[]; list: number[] }>();

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly pauseMs = 50,
  ) {}

  setPhase(phase: string | null): void {
    this.phase = phase;
    if (phase && !this.samples.has(phase)) this.samples.set(phase, { health: [], list: [] });
    if (phase && !this.running) {
      this.running = true;
      this.loop = this.run();
    }
  }

  async stop(): Promise<void> {
    this.phase = null;
    this.running = false;
    await this.loop;
  }

  /** `n` rounds now, filed under `phase` (the loop is paused meanwhile). */
  async burst(phase: string, n: number): Promise<void> {
    const was = this.phase;
    await this.stop();
    this.samples.set(phase, this.samples.get(phase) ?? { health: [], list: [] });
    for (let i = 0; i < n; i++) {
      await this.one(phase, "health");
      await this.one(phase, "list");
    }
    if (was) this.setPhase(was);
  }

  private async run(): Promise<void> {
    while (this.running) {
      const p = this.phase;
      if (!p) break;
      await this.one(p, "health");
      await this.one(p, "list");
      await new Promise((r) => setTimeout(r, this.pauseMs));
    }
  }

  private async one(phase: string, what: "health" | "list"): Promise<void> {
    const t0 = performance.now();
    try {
      const res = await fetch(`${this.url}/v1/${what === "health" ? "health" : "instances"}`, { headers: { authorization: `Bearer ${this.token}` } });
      await res.arrayBuffer();
      if (res.status !== 200) return;
    } catch {
      return;
    }
    this.samples.get(phase)![what].push(performance.now() - t0);
  }
}

/** VmRSS of a process, bytes. */
export function rssBytes(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;
}

/** CPU time a process (all its threads) has used, seconds; with `tid`, that thread's alone (the main thread's is the pid). */
export function cpuSeconds(pid: number, tid?: number): number {
  const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in USER_HZ (100)
}

/** Totals of a cgroup (umld's parent of every guest's): CPU seconds and memory bytes, v1 or v2; null where not found. */
export function cgroupTotals(parent: string): { cpuS: number | null; memoryBytes: number | null } {
  const v2 = `/sys/fs/cgroup/${parent}`;
  if (existsSync(`${v2}/cgroup.procs`) && existsSync(`${v2}/cpu.stat`)) {
    const usec = Number(/usage_usec (\d+)/.exec(read(`${v2}/cpu.stat`))?.[1] ?? NaN);
    return { cpuS: usec / 1e6, memoryBytes: Number(read(`${v2}/memory.current`) || NaN) };
  }
  const cpu = ["cpuacct", "cpu,cpuacct"].map((h) => `/sys/fs/cgroup/${h}/${parent}/cpuacct.usage`).find(existsSync);
  const mem = `/sys/fs/cgroup/memory/${parent}/memory.usage_in_bytes`;
  return { cpuS: cpu ? Number(read(cpu)) / 1e9 : null, memoryBytes: existsSync(mem) ? Number(read(mem)) : null };
}

/** A host-wide figure for the note beside the results: load and free memory. */
export function hostLoad(): string {
  const load = read("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  const avail = Number(/MemAvailable:\s+(\d+)/.exec(read("/proc/meminfo"))?.[1] ?? 0) / 1024 / 1024;
  return `load ${load}, ${avail.toFixed(1)} GiB available`;
}

export function memAvailableBytes(): number {
  return Number(/MemAvailable:\s+(\d+)/.exec(read("/proc/meminfo"))?.[1] ?? 0) * 1024;
}

function read(p: string): string {
  try {
    return readFileSync(p, "utf8").trim();
  } catch {
    return "";
  }
}
