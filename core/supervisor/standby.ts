import { randomBytes } from "node:crypto";
import { constants, writeSync } from "node:fs";
import { Socket } from "node:net";
import { createCgroup, killCgroup, removeCgroup, renameCgroup, setLimits, type CgroupLayout } from "../jail/cgroups.js";
import { native } from "../native.js";
import type { WorkerBootSpec } from "./rpc.js";

type OnExit = (code: number | null, signal: string | null) => void;

/**
 * A launcher spawned ahead of time, already in a spare cgroup of its own: joining a cgroup waits for
 * an RCU grace period (~10 ms, more under load) and spawning costs too, neither of which a start
 * should pay. It waits for its arguments on a pipe; a boot renames its cgroup to the instance's.
 */
export interface Standby {
  pid: number;
  writeFd: number;
  spare: string;
  layout: CgroupLayout;
  /** it died before it was used */
  gone: boolean;
  /** resolves true once it is in its cgroups (its cgroup may be renamed then), false if it ended first */
  joined: Promise<boolean>;
  /** set when a boot takes it: its exit is then the guest's */
  onExit: OnExit | null;
}

/** A standby launcher in a fresh spare cgroup, or null (logged) when none could be made: a boot then spawns one. */
export function prepareStandby(launcher: string, layout: CgroupLayout, warn: (msg: string, fields: Record<string, unknown>) => void): Standby | null {
  const spare = `spare-${randomBytes(6).toString("hex")}`;
  const dirs = createCgroup(layout, spare, { memoryBytes: null, pids: null, cpuWeight: null });
  const [argsRead, argsWrite] = native.pipe();
  const [joinedRead, joinedWrite] = native.pipe();
  const devNull = native.openFd("/dev/null", constants.O_RDWR);
  try {
    let joined!: (v: boolean) => void;
    const s: Standby = { pid: 0, writeFd: argsWrite, spare, layout, gone: false, joined: new Promise((r) => (joined = r)), onExit: null };
    // it says "joined" on its stdout once it is in its cgroups: only then may a boot rename them
    const reader = new Socket({ fd: joinedRead, readable: true, writable: false });
    reader.once("data", () => joined(true));
    reader.on("end", () => joined(false));
    reader.on("error", () => joined(false));
    reader.on("close", () => joined(false));
    s.pid = native.spawnWatched(launcher, [launcher, "--standby", ...dirs.flatMap((d) => ["--cgroup", d])], ["PATH=/usr/bin:/bin"], [argsRead, joinedWrite, devNull], (code, signal) => {
      if (s.onExit) return s.onExit(code, signal);
      s.gone = true; // died unused: a boot spawns a fresh launcher
      joined(false);
    });
    return s;
  } catch (e) {
    native.closeFd(argsWrite);
    removeCgroup(layout, spare);
    warn("no standby launcher: starts spawn one", { error: (e as Error).message });
    return null;
  } finally {
    native.closeFd(argsRead);
    native.closeFd(joinedWrite);
    native.closeFd(devNull);
  }
}

/** A standby that will not be used (an adoption, a teardown): it ends with EOF, its cgroup goes. */
export function dropStandby(s: Standby): void {
  native.closeFd(s.writeFd);
  // a loaded host can take a while to end the launcher: an empty spare left behind would outlive the daemon
  for (const until = Date.now() + 3000; ; ) {
    killCgroup(s.layout, s.spare);
    if (removeCgroup(s.layout, s.spare) || Date.now() > until) return;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

/** The standby if this boot can use it: alive, under the same cgroup parent, in its cgroups (waited for: ~10 ms after it was made). */
export async function usable(s: Standby | null, spec: WorkerBootSpec): Promise<Standby | null> {
  if (!s || s.gone || !spec.cgroup || spec.cgroup.layout.parent !== s.layout.parent) return null;
  return (await Promise.race([s.joined, new Promise<boolean>((r) => setTimeout(() => r(false), 2000))])) ? s : null;
}

/** Hands the standby its guest: the cgroup gets the instance's name and limits, the launcher its arguments. Returns the pid. */
export function launch(s: Standby, spec: WorkerBootSpec & { cgroup: NonNullable<WorkerBootSpec["cgroup"]> }, onExit: OnExit): number {
  s.onExit = onExit;
  try {
    renameCgroup(s.layout, s.spare, spec.cgroup.name, s.pid);
    setLimits(s.layout, spec.cgroup.name, spec.cgroup.limits);
    writeSync(s.writeFd, standbyArgs(spec));
  } catch (e) {
    native.closeFd(s.writeFd);
    killCgroup(s.layout, spec.cgroup.name);
    throw e;
  }
  native.closeFd(s.writeFd); // EOF: it goes on with these arguments
  return s.pid;
}

/** The arguments a standby launcher gets on its pipe: the jail's, its console ends and its environment (options before "--" only). */
export function standbyArgs(s: WorkerBootSpec): Buffer {
  const args = [...s.args];
  const sep = args.indexOf("--");
  const extra = ["--stdin", s.files.consoleIn, "--stdout", s.files.consoleOut, "--stderr", s.files.stderrLog, ...Object.entries(s.env).flatMap(([k, v]) => ["--env", `${k}=${v}`])];
  args.splice(sep, 0, ...extra);
  return Buffer.from(args.map((a) => `${a}\0`).join(""));
}
