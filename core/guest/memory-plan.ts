/**
 * Live memory: UML's `config mem=-N` unplugs whatever it can and still answers
 * OK (it can leave a guest ~2 MB free), `mem=+N` re-plugs at most what was
 * unplugged, and `config mem` gives an address, not a size. So umld keeps its
 * own count of unplugged memory and never takes the guest's free memory below
 * a safety floor.
 */

/** Free memory (MiB) always left to the guest when unplugging: 10% of the boot size, at least 24 MiB. */
export function safetyFloorMiB(maxMiB: number): number {
  return Math.max(24, Math.ceil(maxMiB / 10));
}

export interface MemoryPlan {
  op: "unplug" | "plug" | "none";
  amountMiB: number;
  limitedBy: "safety-floor" | null;
}

export function planMemoryChange(p: { maxMiB: number; unpluggedMiB: number; targetMiB: number; memFreeMiB: number }): MemoryPlan {
  const delta = p.maxMiB - p.targetMiB - p.unpluggedMiB;
  if (delta < 0) return { op: "plug", amountMiB: -delta, limitedBy: null };
  if (delta === 0) return { op: "none", amountMiB: 0, limitedBy: null };
  const room = Math.max(0, Math.floor(p.memFreeMiB - safetyFloorMiB(p.maxMiB)));
  const amount = Math.min(delta, room);
  return { op: amount > 0 ? "unplug" : "none", amountMiB: amount, limitedBy: amount < delta ? "safety-floor" : null };
}

/**
 * How much really moved, from MemFree before and after (the guest keeps
 * running meanwhile, so allow 2 MiB of noise). Never more than asked.
 */
export function measuredChangeMiB(asked: number, freeBeforeKiB: number, freeAfterKiB: number, op: "unplug" | "plug"): number {
  const moved = op === "unplug" ? (freeBeforeKiB - freeAfterKiB) / 1024 : (freeAfterKiB - freeBeforeKiB) / 1024;
  if (moved >= asked - 2) return asked;
  return Math.max(0, Math.min(asked, Math.round(moved)));
}
