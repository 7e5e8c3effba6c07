import { safetyFloorMiB } from "./memory-plan.js";

/**
 * memoryReclaim "auto": when to unplug a guest's unused memory and when to
 * plug it back, from samples of its /proc/meminfo. Pure; the reclaimer
 * (core/instances/memory-reclaim.ts) takes the samples and acts.
 *
 * UML unplugs only free pages (GFP_ATOMIC: no page cache is dropped), so
 * what can go is MemFree above the headroom; a guest runs short when
 * MemAvailable (free + reclaimable cache) nears the headroom. A guest that
 * allocates can eat ~160 MiB/s here (page faults are ptrace round trips):
 * the headroom covers what it takes between two looks, so memory is plugged
 * back before the guest's own OOM killer would run.
 */

/** Free memory kept in a reclaimed guest: a quarter of its boot size up to 64 MiB, never below the safety floor. */
export function reclaimHeadroomMiB(maxMiB: number): number {
  return Math.max(safetyFloorMiB(maxMiB), Math.min(64, Math.ceil(maxMiB / 4)));
}

export const RECLAIM = {
  /** a fall of MemAvailable larger than this between two samples is a guest allocating */
  fallKiB: 4 * 1024,
  /** no fall for this long before memory is unplugged (a guest that just allocated will again) */
  quietMs: 10_000,
  /** and this long after memory was plugged back */
  afterPlugMs: 30_000,
  /** memory is plugged back when MemAvailable falls below this share of the headroom (unplugging leaves all of it) */
  plugBelow: 0.75,
  /** unplug no less than this (each unplug costs a few mconsole round trips) */
  minUnplugMiB: 16,
  /** plugging keeps this much headroom ahead of the guest's measured fall rate */
  lookaheadS: 1,
  /** how often to look while memory falls or runs short */
  fastMs: 100,
  /** while something changed recently or memory waits to be unplugged */
  watchMs: 1000,
  /** a quiet guest (its CPU time wakes the reclaimer up earlier) */
  stableMs: 30_000,
  /** the fastest a guest ate memory here (MiB/s: a 150 MiB buffer filled in 0.94 s, one core, page faults as ptrace round trips) */
  maxFallMiBs: 160,
} as const;

export interface MemSample {
  at: number;
  freeKiB: number;
  availKiB: number;
}

export interface ReclaimInput {
  maxMiB: number;
  /** memoryMiB: the reclaimer never plugs the guest above it */
  ceilingMiB: number;
  unpluggedMiB: number;
  now: number;
  sample: MemSample;
  prev: MemSample | null;
  lastFallAt: number;
  lastPlugAt: number;
}

export interface ReclaimDecision {
  op: "plug" | "unplug" | "none";
  amountMiB: number;
  /** MemAvailable fell since the previous sample */
  falling: boolean;
  /** the guest's fall rate, MiB/s (0 when not falling) */
  rateMiBs: number;
  nextPollMs: number;
}

export function decideReclaim(p: ReclaimInput): ReclaimDecision {
  const headroom = reclaimHeadroomMiB(p.maxMiB);
  const avail = p.sample.availKiB / 1024;
  const free = p.sample.freeKiB / 1024;
  const fellKiB = p.prev ? p.prev.availKiB - p.sample.availKiB : 0;
  const falling = fellKiB > RECLAIM.fallKiB;
  const dtS = p.prev ? Math.max(0.001, (p.sample.at - p.prev.at) / 1000) : 1;
  const rate = falling ? fellKiB / 1024 / dtS : 0;
  const live = p.maxMiB - p.unpluggedMiB;
  const room = Math.max(0, Math.min(p.unpluggedMiB, p.ceilingMiB - live));
  // short now, or before the next look at this rate; below the unplug line, so the two never chase each other
  const plugBelow = headroom * RECLAIM.plugBelow;
  const short = avail < plugBelow || avail - rate * ((RECLAIM.fastMs + 200) / 1000) < plugBelow;
  if (short && room > 0) {
    const want = 2 * headroom + rate * RECLAIM.lookaheadS - avail;
    return { op: "plug", amountMiB: Math.min(room, Math.max(1, Math.ceil(want))), falling, rateMiBs: rate, nextPollMs: RECLAIM.fastMs };
  }
  const lastFall = falling ? p.now : p.lastFallAt;
  // MemAvailable is a little below MemFree when there is no cache (the kernel's reserves): leave the headroom in both
  const spare = Math.floor(Math.min(free, avail) - headroom);
  const quiet = p.now - lastFall >= RECLAIM.quietMs && p.now - p.lastPlugAt >= RECLAIM.afterPlugMs;
  if (quiet && spare >= RECLAIM.minUnplugMiB) {
    return { op: "unplug", amountMiB: spare, falling, rateMiBs: rate, nextPollMs: RECLAIM.watchMs };
  }
  let nextPollMs: number = RECLAIM.stableMs;
  if (falling || avail < headroom * 1.5) nextPollMs = RECLAIM.fastMs;
  else if (p.now - lastFall < RECLAIM.quietMs || p.now - p.lastPlugAt < RECLAIM.afterPlugMs || spare >= RECLAIM.minUnplugMiB) nextPollMs = RECLAIM.watchMs;
  return { op: "none", amountMiB: 0, falling, rateMiBs: rate, nextPollMs };
}
