import { rmSync } from "node:fs";
import { cmdline, processUid, umlMainPids, umlOption } from "../host/procfs.js";
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

export interface LiveGuest {
  pid: number;
  /** started unjailed by an older umld (uml_dir on the host, the shared guest user) */
  legacy: boolean;
  /** where its mconsole socket is, as the process sees its file system */
  mconsole: string;
}

/**
 * Main pids (process group leaders) of live UML processes started from this
 * state dir, by umid: their uml_dir is the instance's jail-private run
 * directory (or, for guests started by an older umld, the instance directory
 * or the shared run/). A jailed guest must also run as its instance's uid
 * (`uidOf`): a guest's processes can forge a command line, not a uid.
 */
export function liveGuestProcesses(paths: StatePaths, uidOf: (umid: string) => number | null): Map<string, LiveGuest> {
  const out = new Map<string, LiveGuest>();
  const found = umlMainPids((argv) => {
    const umid = umlOption(argv, "umid");
    const dir = umlOption(argv, "uml_dir");
    return umid !== null && dir !== null && [paths.umlDir(umid), paths.instanceDir(umid), paths.umlRun].some((d) => dir === `${d}/`);
  });
  for (const [umid, pid] of found) {
    const argv = cmdline(pid) ?? [];
    const dir = umlOption(argv, "uml_dir") ?? "";
    const legacy = dir !== `${paths.umlDir(umid)}/`;
    const uid = uidOf(umid);
    if (!legacy && uid !== null && processUid(pid) !== uid) continue;
    out.set(umid, { pid, legacy, mconsole: `${dir}${umid}/mconsole` });
  }
  return out;
}
