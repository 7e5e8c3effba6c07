/**
 * The hang probe. A guest is making progress while its kernel's CPU tick
 * counters advance (the `cpu` line of /proc/stat: they move only when the
 * guest takes timer interrupts; /proc/uptime would not do, UML's clock reads
 * the host's). mconsole answers even a guest frozen with `stop` (UML runs
 * commands itself then), so the probe compares counters instead of trusting an
 * answer; a kernel too stuck to answer at all times out. What the host sees of
 * the guest decides when to ask (probe-schedule.ts).
 */
import { type HostSample, ProbeSchedule } from "./probe-schedule.js";

export interface ProbeTarget {
  /** the guest may not be judged now (no mconsole yet, paused on request, an action running): not a hang */
  excused(): boolean;
  /** the process is gone: nothing to probe */
  gone(): boolean;
  /** the guest kernel's /proc/stat (mconsole `proc stat`) */
  stat(timeoutMs: number): Promise<string>;
  /** reported once per hang; again only after progress */
  hang(sinceS: number, how: string): void;
  /** what the host sees of the guest without asking it (absent: ask at every check) */
  host?(): HostSample;
}

/** The sum of the guest's CPU tick counters, or null when /proc/stat has no `cpu` line. */
export function cpuTicks(stat: string): number | null {
  const cpu = /^cpu\s+([\d\s]+)$/m.exec(stat)?.[1];
  if (cpu === undefined) return null;
  return cpu
    .trim()
    .split(/\s+/)
    .reduce((n, x) => n + Number(x), 0);
}

/** How often to probe: a third of the timeout, between 0.5 and 5 s. */
export function probeIntervalMs(timeoutMs: number): number {
  return Math.max(500, Math.min(5000, Math.floor(timeoutMs / 3)));
}

export class Watchdog {
  private timer: NodeJS.Timeout | null = null;
  private schedule: ProbeSchedule;
  private lastProgressAt = 0;
  private lastTicks = -1;
  private reported = false;
  private probing = false;

  constructor(
    /** report when the guest makes no progress this long (0: off) */
    private timeoutMs: number,
    private readonly target: ProbeTarget,
    private readonly now: () => number = Date.now,
  ) {
    this.schedule = newSchedule(timeoutMs);
  }

  setTimeout(ms: number): void {
    this.timeoutMs = ms;
    this.schedule = newSchedule(ms);
  }

  /** The current interval between questions to a quiet guest (tests, metrics). */
  get askIntervalMs(): number {
    return this.schedule.intervalMs;
  }

  /** (Re)starts probing from now: a fresh boot has made no progress yet and owes none. */
  start(): void {
    this.stop();
    this.lastProgressAt = this.now();
    this.lastTicks = -1;
    this.reported = false;
    this.schedule.reset();
    if (this.timeoutMs <= 0) return;
    this.timer = setInterval(() => void this.check(), probeIntervalMs(this.timeoutMs));
    this.timer.unref(); // never what keeps a worker (or a test) alive
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The timer's tick: looks at the host's side, and asks the guest when that makes it due. */
  async check(): Promise<void> {
    if (this.probing || this.target.gone()) return;
    if (this.target.host && !this.target.excused() && !this.schedule.due(this.now(), this.target.host())) return;
    await this.probe();
  }

  /** Asks the guest now (tests call it directly). */
  async probe(): Promise<void> {
    if (this.probing || this.target.gone()) return;
    if (this.target.excused()) {
      this.lastProgressAt = this.now(); // asked-for pauses and running actions are not hangs
      this.schedule.reset();
      return;
    }
    this.probing = true;
    let how: string;
    try {
      const ticks = cpuTicks(await this.target.stat(Math.min(5000, this.timeoutMs))) ?? 0;
      if (ticks > this.lastTicks) {
        this.lastTicks = ticks;
        this.lastProgressAt = this.now();
        this.reported = false;
        this.schedule.asked(this.now(), true);
        return;
      }
      how = `the guest's CPU tick counters stayed at ${ticks} (no timer interrupts)`;
    } catch (e) {
      how = `mconsole did not answer: ${(e as Error).message}`;
    } finally {
      this.probing = false;
    }
    this.schedule.asked(this.now(), false);
    const since = this.now() - this.lastProgressAt;
    if (since >= this.timeoutMs && !this.reported) {
      this.reported = true;
      this.target.hang(Math.round(since / 100) / 10, how);
    }
  }
}

/** Checks at the probe interval; a quiet guest is asked at most once per timeout. */
function newSchedule(timeoutMs: number): ProbeSchedule {
  const base = probeIntervalMs(timeoutMs);
  return new ProbeSchedule(base, Math.max(base, timeoutMs));
}
