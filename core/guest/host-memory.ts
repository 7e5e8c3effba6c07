import { readdirSync, readlinkSync, statSync } from "node:fs";

/**
 * Bytes of a guest's RAM file actually backed on the host: UML keeps its
 * "physical memory" in an unlinked file (in $TMPDIR, /dev/shm here) open in
 * the main process; its allocated blocks are what the host really pays.
 */
export function hostMemoryBytes(pid: number, dir: string): number | null {
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (target.startsWith(`${dir}/`) && target.endsWith("(deleted)")) return statSync(`/proc/${pid}/fd/${fd}`).blocks * 512;
    }
  } catch {
    // process gone
  }
  return null;
}
