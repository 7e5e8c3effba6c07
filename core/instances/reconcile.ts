import { readFileSync, rmSync } from "node:fs";
import type { StatePaths } from "../paths.js";
import { readdirSafe } from "../util/fs.js";

/**
 * What a daemon finds at start, before it adopts guests: files an
 * interrupted daemon left, and the UML processes of this state dir. Pure
 * over the filesystem and /proc; the manager decides what to do with them.
 */

/** What the database knows: instance ids, registered image files, data disk files. */
export interface KnownState {
  instances: Set<string>;
  images: Set<string>;
  disks: Set<string>;
}

/**
 * Files a killed daemon can leave: an instance directory whose create never
 * committed, temp files of merges and restores, image and disk files never
 * registered. All are umld's own (named by umld's ids) and safe to remove;
 * anything else is left alone. Returns the removed paths.
 */
export function sweepStateFiles(paths: StatePaths, known: KnownState): string[] {
  const removed: string[] = [];
  const rm = (p: string) => {
    rmSync(p, { recursive: true, force: true });
    removed.push(p);
  };
  for (const id of readdirSafe(paths.instances)) {
    const dir = paths.instanceDir(id);
    if (!known.instances.has(id)) rm(dir);
    else for (const f of readdirSafe(dir)) if (f.endsWith(".new") || f.endsWith(".partial")) rm(`${dir}/${f}`);
  }
  for (const f of readdirSafe(paths.images)) {
    const p = `${paths.images}/${f}`;
    if (f.endsWith(".partial") || f.startsWith(".build-") || f.startsWith(".extract-") || f.startsWith(".debian-")) rm(p);
    else if (/^[0-9a-f]{16}\.ext4$/.test(f) && !known.images.has(p)) rm(p);
  }
  for (const f of readdirSafe(paths.disks)) {
    const p = `${paths.disks}/${f}`;
    if (/^[0-9a-f]{16}\.(img|cow)$/.test(f) && !known.disks.has(p)) rm(p);
  }
  return removed;
}

/**
 * Main pids (process group leaders) of live UML processes started from this
 * state dir, by umid: their uml_dir is the instance's directory, or the
 * shared run/ of guests started by an older umld.
 */
export function liveGuestProcesses(paths: StatePaths): Map<string, number> {
  const out = new Map<string, number>();
  for (const entry of readdirSafe("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "latin1").split("\0");
      const umid = argv.find((a) => a.startsWith("umid="))?.slice(5);
      if (!umid || !(argv.includes(`uml_dir=${paths.umlDir(umid)}/`) || argv.includes(`uml_dir=${paths.umlRun}/`))) continue;
      const pgrp = Number(readFileSync(`/proc/${entry}/stat`, "latin1").split(") ")[1]?.split(" ")[2]);
      if (pgrp === Number(entry)) out.set(umid, Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}
