import { closeSync, constants, openSync, readFileSync } from "node:fs";
import { readLogTail } from "../console/console-hub.js";
import { isGuestProcess, processesWithUmid } from "../host/procfs.js";
import { cpuUsageFile, createCgroup, killCgroup, parseCpuUsageNs, removeCgroup, type CgroupLayout } from "../jail/cgroups.js";
import { native } from "../native.js";
import { classifyExit, type ExitFacts, type ExitReason } from "./exit-reason.js";
import type { WorkerBootSpec } from "./rpc.js";
import { launch, type Standby } from "./standby.js";

type OnExit = (code: number | null, signal: string | null) => void;

/** The launcher's own failure (exit 125 before the kernel ran): its message is the last line of the stderr log. */
export const JAIL_FAILED = 125;

/**
 * One UML process of a guest: spawned by this supervisor (through a standby
 * launcher or a fresh posix_spawn), or adopted from a previous daemon. A
 * reboot ends it and a new one takes its place; the guest's console and
 * sockets stay.
 */
export class GuestProcess {
  /** the kernel announced itself at least once: a later exit 125 is the guest's, not the launcher's */
  bootedOnce = false;
  private ended = false;
  private waiters: Array<() => void> = [];
  private stopWatch: (() => void) | null = null;
  private deadline: NodeJS.Timeout | null = null;

  private constructor(
    readonly pid: number,
    /** not our child: no exit status, and its group is not ours to signal at the end */
    readonly adopted: boolean,
    readonly startedAt: number,
  ) {}

  /**
   * Spawns the guest: through the standby launcher when one is given (it is in its cgroup already),
   * else posix_spawn of the launcher, which joins the guest's cgroup itself (made here). Throws when
   * it cannot be spawned. `console` are the FIFO ends for fds 0 and 1, closed here.
   */
  static spawn(spec: WorkerBootSpec, console: { stdinFd: number; stdoutFd: number }, standby: Standby | null, onExit: OnExit): GuestProcess {
    const at = Date.now();
    if (standby && spec.cgroup) {
      closeSync(console.stdinFd);
      closeSync(console.stdoutFd);
      return new GuestProcess(launch(standby, { ...spec, cgroup: spec.cgroup }, onExit), false, at);
    }
    let errFd = -1;
    try {
      const cgroupArgs = spec.cgroup ? createCgroup(spec.cgroup.layout, spec.cgroup.name, spec.cgroup.limits).flatMap((d) => ["--cgroup", d]) : [];
      errFd = openSync(spec.files.stderrLog, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW, 0o600);
      // posix_spawn: the daemon's page tables are not copied (Node's fork+exec cost milliseconds of every
      // boot); its own session, so a signal to the daemon's group never reaches the guest
      const env = Object.entries(spec.env).map(([k, v]) => `${k}=${v}`);
      const pid = native.spawnWatched(spec.command, [spec.command, ...cgroupArgs, ...spec.args], env, [console.stdinFd, console.stdoutFd, errFd], onExit);
      return new GuestProcess(pid, false, at);
    } finally {
      closeSync(console.stdinFd);
      closeSync(console.stdoutFd);
      if (errFd >= 0) closeSync(errFd);
    }
  }

  /** A UML process left running by a previous daemon: not our child, so its pid is watched (every 250 ms). */
  static adopt(pid: number, alive: () => boolean, onGone: () => void): GuestProcess {
    const p = new GuestProcess(pid, true, Date.now());
    const timer = setInterval(() => {
      if (alive()) return;
      clearInterval(timer);
      onGone();
    }, 250);
    p.stopWatch = () => clearInterval(timer);
    return p;
  }

  get exited(): boolean {
    return this.ended;
  }

  /** To the whole process group (UML calls setsid(): pid == pgid); never SIGKILL the main pid alone. */
  signalGroup(sig: NodeJS.Signals): boolean {
    if (this.ended) return false; // its pid may be another process's by now
    try {
      process.kill(-this.pid, sig);
      return true;
    } catch {
      return false;
    }
  }

  /** Kills the whole group unless the process ends within `ms` (a kernel stuck in its own teardown). */
  endWithin(ms: number, onKill: () => void): void {
    this.keepAlive();
    this.deadline = setTimeout(() => {
      if (this.ended) return;
      onKill();
      this.signalGroup("SIGKILL");
    }, ms);
  }

  /** The deadline is off: it came up again instead (a kernel restarted in place). */
  keepAlive(): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
  }

  /** Resolves true once the process ended, false after `ms`. */
  waitExit(ms: number): Promise<boolean> {
    if (this.ended) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve(false);
      }, ms);
      this.waiters.push(done);
    });
  }

  /** The process is gone: waiters are told. Returns false when it was already marked. */
  markEnded(): boolean {
    if (this.ended) return false;
    this.ended = true;
    this.keepAlive();
    this.stopWatch?.();
    for (const w of this.waiters) w();
    this.waiters = [];
    return true;
  }
}

/** The pid is alive and still this instance's UML: its umid and its own uid (guards against pid reuse and impostors). */
export function guestAlive(pid: number, spec: WorkerBootSpec, legacy: boolean): boolean {
  return isGuestProcess(pid, { umid: spec.instanceId, uid: legacy ? null : spec.guest.uid });
}

/**
 * Every process left of the guest: its cgroup holds them all (its helpers,
 * and guest processes that outlived a killed kernel); the cgroup goes once
 * empty, so the next process of the guest starts in a fresh one. A legacy
 * guest has no cgroup: its processes are found by umid, never by signalling a
 * process group whose leader may be reused.
 */
export function killStragglers(spec: WorkerBootSpec, legacy: boolean, warn: (msg: string, fields: Record<string, unknown>) => void): number | null {
  const cg = spec.cgroup;
  if (cg && !legacy) {
    killCgroup(cg.layout, cg.name);
    const cpuNs = finalCpuNs(cg.layout, cg.name); // the process's CPU time, read before its cgroup goes
    if (!removeCgroup(cg.layout, cg.name)) warn("the guest's cgroup could not be removed", { cgroup: cg.name });
    return cpuNs;
  }
  for (const p of processesWithUmid(spec.instanceId, null)) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

function finalCpuNs(layout: CgroupLayout, name: string): number | null {
  const file = cpuUsageFile(layout, name);
  try {
    return file ? parseCpuUsageNs(layout.version, readFileSync(file, "utf8")) : null;
  } catch {
    return null;
  }
}

/** Why the launcher failed, from the last `umld-jail: ` line of the stderr log. */
function jailFailure(stderrLog: string): string | null {
  try {
    const lines = readLogTail(stderrLog, 4096).toString("utf8").trim().split("\n");
    const last = [...lines].reverse().find((l) => l.startsWith("umld-jail: "));
    return last ? last.slice("umld-jail: ".length) : null;
  } catch {
    return null;
  }
}

/** How a process ended: the launcher's own failure (exit 125 before any kernel ran), else what classifyExit says. */
export function endReason(proc: GuestProcess, f: ExitFacts, stderrLog: string): ExitReason {
  if (f.code === JAIL_FAILED && !proc.bootedOnce) return { reason: `the guest's jail could not be made: ${jailFailure(stderrLog) ?? "see uml.stderr.log"}`, requested: false };
  return classifyExit(f);
}
