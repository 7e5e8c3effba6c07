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

/**
 * The fd number under which the guest's main process holds its RAM file, so
 * later readings stat that one fd instead of walking /proc/<pid>/fd again.
 */
export function ramFileFd(pid: number, dir: string): number | null {
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (target.startsWith(`${dir}/`) && target.endsWith("(deleted)")) return Number(fd);
      } catch {
      }
    }
  } catch {
    // process gone
  }
  return null;
}

/** Bytes backed of the RAM file at that fd, or null when the fd no longer is that file (look it up again). */
export function ramFileBytes(pid: number, fd: number, dir: string): number | null {
  try {
    const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    if (!target.startsWith(`${dir}/`) || !target.endsWith("(deleted)")) return null;
    return statSync(`/proc/${pid}/fd/${fd}`).blocks * 512;
  } catch {
    return null;
  }
}
