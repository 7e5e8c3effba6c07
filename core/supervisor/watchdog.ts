/**
 * The hang probe. A guest is making progress while its kernel's CPU tick
 * counters advance (the `cpu` line of /proc/stat: they move only when the
 * guest takes timer interrupts; /proc/uptime would not do, UML's clock reads
 * the host's). mconsole answers even a guest frozen with `stop` (UML runs
 * commands itself then), so the probe compares counters instead of trusting an
 * answer; a kernel too stuck to answer at all times out.
 */

export interface ProbeTarget {
  /** the guest may not be judged now (no mconsole yet, paused on request, an action running): not a hang */
  excused(): boolean;
  /** the process is gone: nothing to probe */
  gone(): boolean;
  /** the guest kernel's /proc/stat (mconsole `proc stat`) */
  stat(timeoutMs: number): Promise<string>;
  /** reported once per hang; again only after progress */
  hang(sinceS: number, how: string): void;
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
  private lastProgressAt = 0;
  private lastTicks = -1;
  private reported = false;
  private probing = false;

  constructor(
    /** report when the guest makes no progress this long (0: off) */
    private timeoutMs: number,
    private readonly target: ProbeTarget,
    private readonly now: () => number = Date.now,
  ) {}

  setTimeout(ms: number): void {
    this.timeoutMs = ms;
  }

  /** (Re)starts probing from now: a fresh boot has made no progress yet and owes none. */
  start(): void {
    this.stop();
    this.lastProgressAt = this.now();
    this.lastTicks = -1;
    this.reported = false;
    if (this.timeoutMs <= 0) return;
    this.timer = setInterval(() => void this.probe(), probeIntervalMs(this.timeoutMs));
    this.timer.unref(); // never what keeps a worker (or a test) alive
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One probe (the timer's tick; tests call it directly). */
  async probe(): Promise<void> {
    if (this.probing || this.target.gone()) return;
    if (this.target.excused()) {
      this.lastProgressAt = this.now(); // asked-for pauses and running actions are not hangs
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
        return;
      }
      how = `the guest's CPU tick counters stayed at ${ticks} (no timer interrupts)`;
    } catch (e) {
      how = `mconsole did not answer: ${(e as Error).message}`;
    } finally {
      this.probing = false;
    }
    const since = this.now() - this.lastProgressAt;
    if (since >= this.timeoutMs && !this.reported) {
      this.reported = true;
      this.target.hang(Math.round(since / 100) / 10, how);
    }
  }
}
