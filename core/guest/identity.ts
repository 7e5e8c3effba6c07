import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** The host uid/gid a guest's UML processes run as. */
export interface GuestIdentity {
  uid: number;
  gid: number;
}

export const ROOT: GuestIdentity = { uid: 0, gid: 0 };

/** RLIMITs every guest process gets: no core files (they would hold guest RAM), bounded descriptors. */
export const GUEST_RLIMITS = ["--core=0", "--nofile=8192"];

/** A user from /etc/passwd, or null. */
export function lookupUser(name: string, passwd = readFileSync("/etc/passwd", "utf8")): GuestIdentity | null {
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return null;
}

/**
 * The daemon's guest user: looked up, or created as a system user with its
 * own group, no home and no shell. `root` keeps guests as root (unsafe; an
 * explicit choice).
 */
export function ensureGuestUser(name: string): GuestIdentity {
  if (name === "root") return ROOT;
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(name)) throw new Error(`guest user name not allowed: '${name}'`);
  const found = lookupUser(name);
  if (found) return found;
  execFileSync("useradd", ["--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name], { stdio: "pipe" });
  const made = lookupUser(name);
  if (!made) throw new Error(`could not create the guest user '${name}'`);
  return made;
}

/**
 * Wraps a UML command line so the process drops to the guest identity before
 * it runs: setpriv (no capabilities, an empty bounding set, no_new_privs, no
 * supplementary groups), then prlimit, then the command. All three exec, so
 * the pid umld spawned is the UML kernel's, with the same command line.
 */
export function jailed(id: GuestIdentity, command: string, args: string[]): { command: string; args: string[] } {
  if (id.uid === 0) return { command, args };
  return {
    command: "setpriv",
    args: [
      `--reuid=${id.uid}`, `--regid=${id.gid}`, "--clear-groups", "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all",
      "--", "prlimit", ...GUEST_RLIMITS, "--", command, ...args,
    ],
  };
}
