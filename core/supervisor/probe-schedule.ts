/**
 * When to ask a guest whether it is hung. Asking (mconsole `proc stat`) wakes
 * the guest's kernel and costs a round trip through it; reading what the host
 * already knows of it (its UML process's CPU time, how much its console wrote)
 * costs one procfs read and wakes nothing. So the hang probe looks at the host
 * first, at every check, and asks the guest only when it is due:
 *
 * - a quiet guest (its console silent, its kernel taking a little CPU and less
 *   than QUIET_CPU_SHARE of a core: an idle kernel taking its timer ticks) is
 *   asked at a base interval that doubles after each answer showing progress,
 *   up to the hang timeout: at 400 idle guests most checks ask nobody;
 * - any change (console output, a busy or spinning kernel, a kernel taking no
 *   CPU at all, a CPU time the host cannot read) resets that to the base
 *   interval and the guest is asked at this check;
 * - a guest whose last answer showed no progress (or no answer) is asked at
 *   every check until it shows progress again.
 * A hang that looks quiet to the host is still found within about twice the
 * timeout; any other within the timeout plus one base interval.
 */

/** What the host sees of a guest without asking it. */
export interface HostSample {
  /** CPU time of the guest's UML kernel process, nanoseconds (null: unreadable) */
  cpuNs: number | null;
  /** bytes its console has written since it booted */
  consoleBytes: number;
}

/** Above this share of a core, a guest is busy (or spinning), not idle: an idle UML kernel takes ~0.02 %. */
export const QUIET_CPU_SHARE = 0.05;

export class ProbeSchedule {
  private last: { at: number; sample: HostSample } | null = null;
  private lastAskedAt = Number.NEGATIVE_INFINITY;
  private factor = 1;
  private suspect = false;

  constructor(
    /** the host check interval, and the shortest between two questions */
    private readonly baseMs: number,
    /** the longest a quiet guest goes unasked */
    private readonly maxMs: number,
  ) {}

  /** The current interval between questions to a quiet guest. */
  get intervalMs(): number {
    return Math.min(this.maxMs, this.baseMs * this.factor);
  }

  /** At a host check: true when the guest should be asked now. */
  due(now: number, sample: HostSample): boolean {
    const prev = this.last;
    this.last = { at: now, sample };
    if (!prev || !quiet(prev, { at: now, sample })) this.factor = 1;
    if (this.suspect || this.factor === 1) return true;
    return now - this.lastAskedAt >= this.intervalMs;
  }

  /** The guest's answer: `progressed` when its tick counters moved since the previous answer. */
  asked(now: number, progressed: boolean): void {
    this.lastAskedAt = now;
    this.suspect = !progressed;
    if (!progressed) this.factor = 1;
    else if (this.baseMs * this.factor < this.maxMs) this.factor *= 2;
  }

  /** A fresh boot, or a new timeout: nothing is known of the guest yet. */
  reset(): void {
    this.last = null;
    this.lastAskedAt = Number.NEGATIVE_INFINITY;
    this.factor = 1;
    this.suspect = false;
  }
}

function quiet(a: { at: number; sample: HostSample }, b: { at: number; sample: HostSample }): boolean {
  if (b.sample.consoleBytes !== a.sample.consoleBytes) return false;
  if (a.sample.cpuNs === null || b.sample.cpuNs === null) return false;
  const used = b.sample.cpuNs - a.sample.cpuNs;
  const elapsedNs = (b.at - a.at) * 1e6;
  return used > 0 && elapsedNs > 0 && used / elapsedNs < QUIET_CPU_SHARE;
}
