import { readdirSync, rmdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { killCgroup, removeCgroup, type CgroupLayout } from "../jail/cgroups.js";
import { switchProcesses } from "../host/procfs.js";

/**
 * Switch networks were one uml_switch process each (jailed, in a cgroup
 * `net-<id>`, its files in STATE/net/<id>/); they are kernel bridges now.
 * At start, what an older umld left of them goes: the processes (found by
 * their control socket under STATE/net on the command line), their cgroups
 * and files, removed by name, never recursively. A guest still running on
 * one keeps a dead NIC until it is restarted onto the bridge.
 */
export function retireSwitches(netDir: string, cgroups: CgroupLayout | null, log: Logger): void {
  const ids = subdirs(netDir).filter((d) => /^[0-9a-f]{16}$/.test(d));
  for (const pid of switchProcesses(netDir)) {
    try {
      process.kill(pid, "SIGKILL");
      log.warn({ pid }, "stopped a uml_switch of an older umld: switch networks are kernel bridges now; guests running on it get their NIC back when restarted");
    } catch {
      // gone
    }
  }
  for (const id of ids) {
    if (cgroups) {
      killCgroup(cgroups, `net-${id}`);
      removeCgroup(cgroups, `net-${id}`);
    }
    const d = join(netDir, id);
    for (const f of ["sock/ctl", "ctl", "switch.pid", "switch.log"]) quietly(() => unlinkSync(join(d, f)));
    quietly(() => rmdirSync(join(d, "sock")));
    quietly(() => rmdirSync(d));
  }
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

function quietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // absent already
  }
}
