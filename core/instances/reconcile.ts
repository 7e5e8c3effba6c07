import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { cmdline, processUid, umlMainPids, umlOption } from "../host/procfs.js";
import type { StatePaths } from "../paths.js";
import { fsyncDir, readdirSafe } from "../util/fs.js";

/**
 * What a daemon finds at start, before it adopts guests: files an
 * interrupted daemon left, and the UML processes of this state dir. Pure
 * over the filesystem and /proc; adoption.ts decides what to do with them.
 */

/** What the database knows: instance ids, registered image files, data disk files. */
export interface KnownState {
  instances: Set<string>;
  images: Set<string>;
  disks: Set<string>;
}

/** Where the sweep puts files no row names: `<state>/quarantine/<time>/`. */
export function quarantineDir(paths: StatePaths, at = new Date()): string {
  return join(paths.root, "quarantine", at.toISOString().replace(/[:.]/g, "-"));
}

/**
 * Files a killed daemon can leave. Temp files no row can ever name (`.new`
 * and `.partial` files, build and extract directories) are removed; a rebase
 * a crash interrupted was finished before this runs (snapshots.ts), so no
 * `.new` is still needed. Files a row would name but none does (an instance
 * directory, an image, a data disk) are moved to the quarantine directory,
 * never deleted: a row lost or rolled back (an old backup, a bug) must not
 * cost the data, and an admin deletes the quarantine once it is looked at.
 * Anything not umld's own (named by umld's ids) is left alone. Returns the
 * paths removed or moved.
 */
export function sweepStateFiles(paths: StatePaths, known: KnownState, at = new Date()): string[] {
  const removed: string[] = [];
  const rm = (p: string) => {
    try {
      rmSync(p, { recursive: true, force: true });
      removed.push(p);
    } catch {
      // a mount point a lazy unmount still holds: next start
    }
  };
  let quarantine: string | null = null;
  const move = (p: string, kind: string) => {
    quarantine ??= quarantineDir(paths, at);
    mkdirSync(join(quarantine, kind), { recursive: true, mode: 0o700 });
    renameSync(p, join(quarantine, kind, basename(p)));
    removed.push(p);
  };
  for (const id of readdirSafe(paths.instances)) {
    const dir = paths.instanceDir(id);
    if (!known.instances.has(id)) move(dir, "instances");
    else for (const f of readdirSafe(dir)) if (f.endsWith(".new") || f.endsWith(".partial")) rm(`${dir}/${f}`);
  }
  for (const f of readdirSafe(paths.images)) {
    const p = `${paths.images}/${f}`;
    if (f.startsWith(".extract-")) unmountAll(p); // an import's tmpfs, left mounted by a killed daemon
    if (f.endsWith(".partial") || f.startsWith(".build-") || f.startsWith(".extract-") || f.startsWith(".debian-")) rm(p);
    else if (/^[0-9a-f]{16}\.ext4$/.test(f) && !known.images.has(p)) move(p, "images");
  }
  for (const f of readdirSafe(paths.disks)) {
    const p = `${paths.disks}/${f}`;
    if (/^[0-9a-f]{16}\.(img|cow)$/.test(f) && !known.disks.has(p)) move(p, "disks");
  }
  if (removed.length) for (const d of [paths.instances, paths.images, paths.disks]) fsyncDir(d);
  return removed;
}

/** Mount points at or under `dir` (from /proc/self/mountinfo), deepest first. */
export function mountsUnder(dir: string, mountinfo = readFileSync("/proc/self/mountinfo", "utf8")): string[] {
  const unescapeOctal = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return mountinfo
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((m): m is string => m !== undefined)
    .map(unescapeOctal)
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

function unmountAll(dir: string): void {
  for (const m of mountsUnder(dir)) {
    try {
      execFileSync("umount", ["-l", m], { stdio: "ignore", timeout: 10_000 });
    } catch {
      // gone already
    }
  }
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
