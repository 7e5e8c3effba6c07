import { readdirSync, readlinkSync, statSync } from "node:fs";

/**
 * The guest's RAM file as the host reaches it, `/proc/<pid>/fd/<n>`: UML keeps
 * its "physical memory" in an unlinked file (in $TMPDIR: the jail's private
 * tmpfs) open in the main process. Found once (a walk of its descriptors),
 * then stat'ed directly. Null when the process is gone.
 */
export function ramFileOf(pid: number, dir: string): string | null {
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (target.startsWith(`${dir}/`) && target.endsWith("(deleted)")) return `/proc/${pid}/fd/${fd}`;
    }
  } catch {
    // process gone
  }
  return null;
}

/** Bytes of a RAM file the host really backs: its allocated blocks (a guest's untouched and unplugged pages cost nothing). */
export function allocatedBytesAt(ramFile: string): number | null {
  try {
    return statSync(ramFile).blocks * 512;
  } catch {
    return null;
  }
}

/** Bytes of a guest's RAM file actually backed on the host. */
export function hostMemoryBytes(pid: number, dir: string): number | null {
  const f = ramFileOf(pid, dir);
  return f ? allocatedBytesAt(f) : null;
}

/**
 * The fd number under which the guest's main process holds its RAM file, so
 * later readings stat that one fd instead of walking /proc/<pid>/fd again.
 */
export function ramFileFd(pid: number, dir: string): number | null {
  const f = ramFileOf(pid, dir);
  return f ? Number(f.slice(f.lastIndexOf("/") + 1)) : null;
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
