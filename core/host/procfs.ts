import { readdirSync, readFileSync } from "node:fs";

/**
 * What /proc says about host processes: the one place umld asks whether a
 * pid is a guest's UML, which guests are alive, and where their sockets are.
 * A guest's processes can rewrite their own command line, so a command line
 * alone never decides: the uid (one per guest) must match too.
 */

export function cmdline(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0");
  } catch {
    return null;
  }
}

/** The process group id (UML calls setsid(): its main pid leads its group). */
export function processGroup(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[2]);
  } catch {
    return null;
  }
}

/**
 * CPU time a process has used, nanoseconds, or null when it is gone: its
 * scheduler's run time (/proc/<pid>/schedstat), else utime + stime (10 ms steps).
 */
export function processCpuNs(pid: number): number | null {
  try {
    const run = Number(readFileSync(`/proc/${pid}/schedstat`, "latin1").split(" ")[0]);
    if (Number.isFinite(run)) return run;
  } catch {
    // no schedstat in this kernel (or gone): try stat
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 1e7; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/** The real uid of a process, or null when it is gone. */
export function processUid(pid: number): number | null {
  try {
    const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export function pids(): number[] {
  try {
    return readdirSync("/proc")
      .filter((e) => /^\d+$/.test(e))
      .map(Number);
  } catch {
    return [];
  }
}

/** The value of `key=` on a UML command line. */
export function umlOption(argv: readonly string[], key: string): string | null {
  const a = argv.find((x) => x.startsWith(`${key}=`));
  return a === undefined ? null : a.slice(key.length + 1);
}

export interface GuestIdentityCheck {
  umid: string;
  /** the guest's own uid; null for a guest started before guests had one (adopted from an older umld) */
  uid: number | null;
}

/** The pid is alive, carries the guest's umid, and runs as the guest's uid (guards against pid reuse and impostors). */
export function isGuestProcess(pid: number, g: GuestIdentityCheck): boolean {
  const argv = cmdline(pid);
  if (!argv?.includes(`umid=${g.umid}`)) return false;
  return g.uid === null || processUid(pid) === g.uid;
}

/** Every process whose command line `matches` (it may have ended by the time the caller looks). */
export function processesMatching(matches: (argv: string[]) => boolean): number[] {
  return pids().filter((p) => {
    const argv = cmdline(p);
    return argv !== null && matches(argv);
  });
}

/** uml_switch processes with a path under `dir` on their command line (their control socket). */
export function switchProcesses(dir: string): number[] {
  return processesMatching((argv) => (argv[0]?.endsWith("uml_switch") ?? false) && argv.some((a) => a.startsWith(`${dir}/`) || a === dir));
}

/** UML processes (main pids and their helpers) started with a uml_dir under `dir`; of one umid when given. */
export function umlProcessesUnder(dir: string, umid?: string): number[] {
  return processesMatching((argv) => argv.some((a) => a.startsWith(`uml_dir=${dir}/`)) && (umid === undefined || argv.includes(`umid=${umid}`)));
}

/** Group leaders whose command line `matches`, by umid: the main pids of live UML processes. */
export function umlMainPids(matches: (argv: string[]) => boolean): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of processesMatching(matches)) {
    const umid = umlOption(cmdline(pid) ?? [], "umid");
    if (umid && processGroup(pid) === pid) out.set(umid, pid);
  }
  return out;
}

/** Every process whose command line carries this umid (a guest's helpers and guest processes included). */
export function processesWithUmid(umid: string, uid: number | null): number[] {
  return pids().filter((p) => isGuestProcess(p, { umid, uid }));
}
