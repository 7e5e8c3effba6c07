import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { cgroupOfProcess, guestCgroupName, type CgroupLayout } from "../jail/cgroups.js";
import { isActive } from "../lifecycle/transitions.js";
import type { StatePaths } from "../paths.js";
import type { Catalog } from "../storage/catalog.js";
import type { InstancesRepo } from "../store/instances-repo.js";
import { nowIso } from "../util/ids.js";
import type { Facts } from "./facts.js";
import type { LiveDisks } from "./live-disks.js";
import { CRASH_WINDOW_S, type Policies } from "./policies.js";
import { liveGuestProcesses, sweepStateFiles, type LiveGuest } from "./reconcile.js";
import type { Starter } from "./start.js";
import type { WorkerPool } from "../supervisor/host.js";
import type { WorkerFacts } from "./worker-facts.js";

/** The cgroup a live process is in, under umld's parent (null: unknown). */
function cgroupOfPid(l: CgroupLayout, pid: number): string | null {
  try {
    return cgroupOfProcess(l, readFileSync(`/proc/${pid}/cgroup`, "utf8"));
  } catch {
    return null;
  }
}

export interface AdoptionDeps {
  paths: StatePaths;
  repo: InstancesRepo;
  catalog: Catalog;
  disks: LiveDisks;
  facts: Facts;
  starter: Starter;
  workers: WorkerFacts;
  pool: WorkerPool;
  policies: Policies;
  cgroups: CgroupLayout | null;
  log: Logger;
}

export interface Reconciled {
  crashed: string[];
  adopted: string[];
  removed: string[];
  orphans: number[];
}

/**
 * At daemon start: what an interrupted daemon left is swept; instances
 * recorded as active whose process is gone are marked crashed ("exited while
 * daemon was down"); live ones are adopted by a new worker (same FIFOs,
 * sockets and pid), so guests outlive the daemon.
 */
export async function reconcileAtStart(d: AdoptionDeps): Promise<Reconciled> {
  const crashed: string[] = [];
  const adopted: string[] = [];
  const removed = sweepStateFiles(d.paths, {
    instances: new Set(d.repo.all().map((r) => r.id)),
    images: new Set(d.catalog.listImages().map((i) => i.path)),
    disks: new Set(d.disks.list().map((x) => x.path)),
  });
  if (removed.length) d.log.warn({ removed }, "moved or removed what an interrupted daemon left behind");
  const known = new Set(d.repo.all().map((r) => r.id));
  const orphans = [...liveGuestProcesses(d.paths, () => null)].filter(([umid]) => !known.has(umid)).map(([, g]) => g.pid);
  if (orphans.length) d.log.warn({ pids: orphans }, "UML processes from this state dir that no instance owns: reported, not killed");
  const uids = new Map(d.repo.all().map((r) => [r.id, r.host_uid]));
  const live: Map<string, LiveGuest> = liveGuestProcesses(d.paths, (umid) => uids.get(umid) ?? null);
  for (const stored of d.repo.all()) {
    const row = { ...stored }; // changed below as the adoption finds it
    const found = live.get(row.id);
    if (!isActive(row.state)) {
      // spawned, but the daemon died before it recorded that: ours, adopt it (never start it twice)
      if (found === undefined) continue;
      d.facts.record(row.id, "start", "found running after a daemon crash", { pid: found.pid, startedAt: nowIso(), ready: false, bootCountIncrement: true });
      d.facts.record(row.id, "booted", "found running after a daemon crash");
      row.pid = found.pid;
      row.state = "running";
    }
    if (row.pid && found?.pid === row.pid) {
      try {
        if (found.legacy) d.log.warn({ instance: row.name, pid: row.pid }, "adopting a guest started before guests were jailed: restart it to jail it");
        // where its cgroup really is: a daemon before tenant levels put a tenant's guest right under the parent
        const cgroup = (d.cgroups && cgroupOfPid(d.cgroups, row.pid)) || guestCgroupName(row.id, row.owner);
        const boot = d.starter.bootSpec(row, cgroup);
        const spec = { ...boot, mconsoleInJail: found.mconsole, adopt: { pid: row.pid, paused: row.state === "paused", legacy: found.legacy } };
        const rt = d.workers.attach(row, await d.pool.take());
        rt.cgroup = found.legacy ? null : cgroup;
        for (const p of boot.jailHolds) rt.jail.add(p);
        rt.host.boot(spec);
        adopted.push(row.name);
      } catch (e) {
        d.log.error({ instance: row.name, err: e }, "could not adopt a running guest");
      }
      continue;
    }
    const reason = "exited while daemon was down";
    d.facts.record(row.id, "crashed", reason, { pid: null, ready: false, startedAt: null, exit: { code: null, signal: null, reason } });
    crashed.push(row.name);
    d.policies.afterExit(row.id, false, reason, CRASH_WINDOW_S);
  }
  return { crashed, adopted, removed, orphans };
}
