import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { JailFile } from "./elf-deps.js";

/** The launcher (native/jail/umld-jail.c), built by `npm run build` next to the addon. */
export const LAUNCHER = fileURLToPath(new URL("../../../native/build/umld-jail", import.meta.url));

export function launcherAvailable(): boolean {
  return existsSync(LAUNCHER);
}

/** Everything one jailed process gets; see native/jail/umld-jail.c for what each part means. */
export interface JailSpec {
  /** an empty root-owned directory: the jail's tmpfs root is mounted on it (in the jail's namespace only) */
  root: string;
  uid: number;
  gid: number;
  groups: number[];
  cgroups: string[];
  rlimits: Partial<Record<"core" | "nofile" | "nproc" | "memlock" | "fsize" | "as", [soft: number, hard: number]>>;
  noAslr: boolean;
  readOnly: JailFile[];
  readWrite: string[];
  devices: string[];
  tmpfs: Array<{ path: string; bytes: number; mode: number }>;
  dirs: Array<{ path: string; mode: number }>;
  /** capabilities kept through the exec (a network's dnsmasq); every other one is dropped. Default: none */
  ambientCaps?: Array<"net_bind_service" | "net_raw" | "net_admin">;
  /** where stderr goes (opened by root, never through a symlink) */
  stderr?: string;
  /** the process's umask (the launcher's default: 077) */
  umask?: number;
  chdir: string;
  command: string;
  args: string[];
}

/** Paths on the launcher's command line: absolute, no ':' (the option separator), no control characters. */
function path(p: string): string {
  if (!p.startsWith("/") || /[:\0\n]/.test(p) || /(^|\/)\.\.?(\/|$)/.test(p)) throw new RangeError(`path not usable in a jail: ${JSON.stringify(p)}`);
  return p;
}

/** The launcher's argv; it execs `command` with `args` once the jail is made. Pure. */
export function jailArgv(s: JailSpec, launcher = LAUNCHER): { command: string; args: string[] } {
  if (s.uid <= 0 || s.gid <= 0 || s.groups.some((g) => g <= 0)) throw new RangeError("a jailed process never runs as root");
  const a: string[] = ["--root", path(s.root), "--uid", String(s.uid), "--gid", String(s.gid)];
  if (s.groups.length) a.push("--groups", s.groups.join(","));
  for (const c of s.cgroups) a.push("--cgroup", path(c));
  for (const [name, [soft, hard]] of Object.entries(s.rlimits) as Array<[string, [number, number]]>) a.push("--rlimit", `${name}:${soft}:${hard}`);
  if (s.noAslr) a.push("--no-aslr");
  // tmpfs mounts first: a file bound below one stays visible on top of it
  for (const t of s.tmpfs) a.push("--tmpfs", `${path(t.path)}:${Math.ceil(t.bytes)}:${t.mode.toString(8)}`);
  for (const d of s.dirs) a.push("--dir", `${path(d.path)}:${d.mode.toString(8)}`);
  for (const f of s.readOnly) {
    a.push("--ro", path(f.source));
    if (f.at !== f.source) a.push("--at", path(f.at));
  }
  for (const p of s.readWrite) a.push("--rw", path(p));
  for (const p of s.devices) a.push("--dev", path(p));
  if (s.umask !== undefined) a.push("--umask", s.umask.toString(8));
  if (s.ambientCaps?.length) a.push("--ambient-caps", s.ambientCaps.join(","));
  if (s.stderr !== undefined) a.push("--stderr", path(s.stderr));
  a.push("--chdir", path(s.chdir), "--", path(s.command), ...s.args);
  return { command: launcher, args: a };
}

/** What a running jail gets added (a hot-plugged disk, TAP or slirp) or loses (a detached disk). */
export interface JailChange {
  pid: number;
  readOnly: JailFile[];
  readWrite: string[];
  devices: string[];
  remove: string[];
}

/** The launcher's argv to change the mounts of the running jail of `pid`. Pure. */
export function enterArgv(c: JailChange, launcher = LAUNCHER): { command: string; args: string[] } {
  if (!Number.isInteger(c.pid) || c.pid <= 1) throw new RangeError(`not a guest pid: ${c.pid}`);
  const a: string[] = ["--enter", String(c.pid)];
  for (const f of c.readOnly) {
    a.push("--ro", path(f.source));
    if (f.at !== f.source) a.push("--at", path(f.at));
  }
  for (const p of c.readWrite) a.push("--rw", path(p));
  for (const p of c.devices) a.push("--dev", path(p));
  for (const p of c.remove) a.push("--umount", path(p));
  return { command: launcher, args: a };
}
