import type { Logger } from "pino";
import type { EventBus } from "../events/bus.js";
import { allocatedBytesAt, ramFileOf } from "../guest/host-memory.js";
import { decideReclaim, RECLAIM, reclaimHeadroomMiB, type MemSample } from "../guest/reclaim-policy.js";
import type { InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import type { CpuAccounting } from "./cpu-accounting.js";
import { processKey, type LiveMemory } from "./live-memory.js";
import type { Registry } from "./registry.js";

export interface ReclaimOptions {
  /** how often each watched guest's CPU time is read (cheap: a kept file descriptor) */
  tickMs: number;
  /** CPU time in one tick that counts as the guest doing something */
  activeNs: number;
  /** growth of the guest's RAM file in one tick that counts as allocating: look at its memory now */
  growthBytes: number;
  /** mconsole requests of the reclaimer in flight at once, over all guests */
  maxInFlight: number;
  /** a meminfo request not answered in this long fails (the guest is backed off) */
  sampleTimeoutMs: number;
  /** the longest a guest that does not answer is left alone */
  maxBackoffMs: number;
}

export const DEFAULT_RECLAIM_OPTIONS: ReclaimOptions = { tickMs: 200, activeNs: 4_000_000, growthBytes: 1 << 20, maxInFlight: 16, sampleTimeoutMs: 1000, maxBackoffMs: 60_000 };

interface Watched {
  id: string;
  name: string;
  /** the guest process watched (live-memory processKey): a reboot starts over */
  process: string;
  cpuNs: number | null;
  /** the RAM file (/proc/<pid>/fd/<n>) and its allocated bytes at the last tick the guest was busy */
  ramFile: string | null;
  ramBytes: number | null;
  lastLookAt: number;
  nextPollAt: number;
  /** when its CPU time is read next: every tick while it has memory to plug back and little left, else every second */
  nextCheckAt: number;
  /** as of the last look or step */
  unpluggedMiB: number;
  headroomMiB: number;
  /** the last decision asked for a quick look (memory falling or short): such guests go first */
  urgent: boolean;
  inFlight: boolean;
  failures: number;
  backoffUntil: number;
  last: MemSample | null;
  lastFallAt: number;
  lastPlugAt: number;
}

/**
 * memoryReclaim "auto", run from the main thread's timers: every watched
 * guest's CPU time is read each tick (~2 µs each); a guest that used CPU, or
 * whose next look is due, has its /proc/meminfo read through mconsole, and
 * reclaim-policy.ts decides whether to unplug or plug. Looks are adaptive
 * (100 ms while memory falls, 1 s while something changes, 30 s when quiet),
 * capped in number over all guests, one at a time per guest, with a short
 * timeout; a guest that does not answer is backed off exponentially, so it
 * never holds up the others, and nothing here ever blocks the API.
 */
export class MemoryReclaimer {
  private readonly watched = new Map<string, Watched>();
  private timer: NodeJS.Timeout | null = null;
  private inFlight = 0;
  private membershipDue = true;
  private lastMembership = 0;
  /** since the last summary (logged at debug every minute) */
  private counts = { looks: 0, steps: 0, failures: 0, since: Date.now() };

  constructor(
    private readonly repo: InstancesRepo,
    private readonly registry: Registry,
    private readonly memory: LiveMemory,
    private readonly cpu: CpuAccounting,
    bus: EventBus,
    private readonly log: Logger,
    /** where an instance's RAM file is (its jail's private tmpfs) */
    private readonly ramDirOf: (id: string) => string,
    private readonly o: ReclaimOptions = DEFAULT_RECLAIM_OPTIONS,
  ) {
    bus.on("event", (e: { type: string }) => {
      // who is watched changes with states, readiness and boots (PATCHes and settled boots call refresh())
      if (e.type === "instance.state" || e.type === "instance.ready" || e.type === "instance.deleted") this.membershipDue = true;
    });
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.o.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Guests watched now (tests, the bench). */
  watching(): string[] {
    return [...this.watched.values()].map((w) => w.name);
  }

  /** Re-reads who is watched soon (a PATCH of memoryReclaim, a settled boot). */
  refresh(): void {
    this.membershipDue = true;
  }

  private tick(): void {
    const now = Date.now();
    if (this.membershipDue || now - this.lastMembership > 10_000) this.updateMembership(now);
    if (now - this.counts.since >= 60_000) {
      this.log.debug({ watched: this.watched.size, ...this.counts, since: undefined, seconds: Math.round((now - this.counts.since) / 1000) }, "memory reclaim summary");
      this.counts = { looks: 0, steps: 0, failures: 0, since: now };
    }
    const due: Watched[] = [];
    for (const w of this.watched.values()) {
      if (w.inFlight || now < w.backoffUntil) continue;
      if (now >= w.nextCheckAt) {
        w.nextCheckAt = now + this.checkEveryMs(w);
        if (this.busy(w)) w.urgent = true;
      }
      if (w.urgent || now >= w.nextPollAt) due.push(w);
    }
    due.sort((a, b) => Number(b.urgent) - Number(a.urgent) || a.nextPollAt - b.nextPollAt);
    for (const w of due) {
      if (this.inFlight >= this.o.maxInFlight) break;
      void this.look(w);
    }
  }

  /**
   * How often a guest's CPU time is read: each tick while the fastest
   * allocation seen here (RECLAIM.maxFallMiBs) could eat what it has
   * available down to half its headroom within a second; a guest with nothing
   * unplugged (nothing to plug back) or plenty available, once a second.
   */
  private checkEveryMs(w: Watched): number {
    if (w.unpluggedMiB === 0 || !w.last) return Math.max(this.o.tickMs, 1000);
    const spareS = (w.last.availKiB / 1024 - w.headroomMiB / 2) / RECLAIM.maxFallMiBs;
    return Math.min(1000, Math.max(this.o.tickMs, spareS * 1000));
  }

  /**
   * Whether the guest must be looked at now: it used CPU this tick and its
   * RAM file grew (it touches pages the host did not back: after a reclaim
   * that is its headroom). CPU alone (a busy guest reusing its pages) brings
   * its next look to within a second.
   */
  private busy(w: Watched): boolean {
    const ns = this.cpu.sample(w.id);
    const active = ns === null || (w.cpuNs !== null && ns - w.cpuNs >= this.o.activeNs); // no CPU figure: watch the RAM file alone
    if (ns !== null) w.cpuNs = ns;
    if (!active) return false;
    const bytes = w.ramFile ? allocatedBytesAt(w.ramFile) : null;
    const grew = bytes !== null && w.ramBytes !== null && bytes - w.ramBytes >= this.o.growthBytes;
    if (bytes !== null) w.ramBytes = bytes;
    if (!grew && ns !== null) w.nextPollAt = Math.min(w.nextPollAt, w.lastLookAt + RECLAIM.watchMs);
    return grew;
  }

  private updateMembership(now: number): void {
    this.membershipDue = false;
    this.lastMembership = now;
    const want = new Map<string, InstanceRow>();
    for (const r of this.repo.all()) {
      if (r.memory_reclaim === "auto" && r.state === "running" && r.ready === 1 && this.registry.has(r.id) && this.memory.isSettled(r)) want.set(r.id, r);
    }
    for (const id of [...this.watched.keys()]) {
      const w = this.watched.get(id)!;
      const r = want.get(id);
      if (!r || processKey(r) !== w.process) this.watched.delete(id); // a new boot or reboot starts over
    }
    for (const [id, r] of want) {
      if (this.watched.has(id)) continue;
      const ramFile = r.pid ? ramFileOf(r.pid, this.ramDirOf(id)) : null;
      this.watched.set(id, {
        id,
        name: r.name,
        process: processKey(r),
        cpuNs: null,
        ramFile,
        ramBytes: ramFile ? allocatedBytesAt(ramFile) : null,
        lastLookAt: 0,
        nextPollAt: now,
        nextCheckAt: now,
        unpluggedMiB: r.unplugged_mib,
        headroomMiB: reclaimHeadroomMiB(r.max_memory_mib),
        urgent: false,
        inFlight: false,
        failures: 0,
        backoffUntil: 0,
        last: null,
        lastFallAt: now,
        lastPlugAt: 0,
      });
    }
  }

  /** One look at a guest: sample, decide, act. */
  private async look(w: Watched): Promise<void> {
    w.inFlight = true;
    this.inFlight++;
    this.counts.looks++;
    try {
      const sample = await this.memory.sample(w.name, this.o.sampleTimeoutMs);
      if (this.watched.get(w.id) !== w) return; // stopped being watched meanwhile
      const row = this.repo.byId(w.id);
      if (!row) return;
      const d = decideReclaim({
        maxMiB: row.max_memory_mib,
        ceilingMiB: row.memory_mib,
        unpluggedMiB: row.unplugged_mib,
        now: sample.at,
        sample,
        prev: w.last,
        lastFallAt: w.lastFallAt,
        lastPlugAt: w.lastPlugAt,
      });
      if (d.falling) w.lastFallAt = sample.at;
      w.last = sample;
      w.lastLookAt = sample.at;
      w.unpluggedMiB = row.unplugged_mib;
      w.failures = 0;
      w.urgent = false;
      w.nextPollAt = sample.at + d.nextPollMs;
      if (d.op === "none") return;
      this.counts.steps++;
      const moved = await this.memory.reclaimStep(w.name, d.op, d.amountMiB, sample.freeKiB, w.process);
      if (d.op === "plug") w.lastPlugAt = Date.now();
      else if (moved < RECLAIM.minUnplugMiB) w.lastPlugAt = Date.now(); // the guest would not give it: not again for a while
      // the next fall is measured from what the step left
      const kib = (d.op === "plug" ? moved : -moved) * 1024;
      w.last = { at: Date.now(), freeKiB: sample.freeKiB + kib, availKiB: sample.availKiB + kib };
      if (w.ramFile) w.ramBytes = allocatedBytesAt(w.ramFile);
      w.unpluggedMiB = this.repo.byId(w.id)?.unplugged_mib ?? w.unpluggedMiB;
      w.nextCheckAt = Date.now(); // the guest's new state decides how closely it is watched
      this.log.info(
        { instance: w.name, op: d.op, askedMiB: d.amountMiB, movedMiB: moved, availMiB: Math.round(sample.availKiB / 1024), fallMiBs: Math.round(d.rateMiBs) },
        `memory ${d.op === "plug" ? "plugged back" : "reclaimed"}`,
      );
    } catch (e) {
      this.counts.failures++;
      w.failures++;
      const wait = Math.min(this.o.maxBackoffMs, 1000 * 2 ** (w.failures - 1));
      w.backoffUntil = Date.now() + wait;
      if (w.failures === 1 || wait === this.o.maxBackoffMs) this.log.warn({ instance: w.name, err: (e as Error).message, retryInMs: wait }, "memory reclaim could not read the guest's memory");
    } finally {
      w.inFlight = false;
      this.inFlight--;
    }
  }
}
