import { realpathSync, statSync } from "node:fs";
import type { MemoryChangeResult, InstanceView } from "../../protocol/instances.js";
import { UmldError } from "../errors.js";
import type { EventBus } from "../events/bus.js";
import type { StatePaths } from "../paths.js";
import type { Catalog } from "../storage/catalog.js";
import type { InstancesRepo } from "../store/instances-repo.js";
import { nowIso } from "../util/ids.js";
import type { LimitsInput, PolicyInput } from "./commands.js";
import { policyColumns } from "./create-delete.js";
import type { GuestLimits } from "./guest-limits.js";
import type { Guests } from "./guests.js";
import type { LiveMemory } from "./live-memory.js";
import type { MemoryReclaimer } from "./memory-reclaim.js";
import type { Registry } from "./registry.js";

export type PatchRequest = {
  memoryMiB?: number;
  maxMemoryMiB?: number;
  kernel?: string | null;
  diskQuotaMiB?: number | null;
  hostfsDir?: string | null;
  memoryReclaim?: "off" | "auto";
  limits?: LimitsInput;
} & PolicyInput;

export interface PatchDeps {
  paths: StatePaths;
  repo: InstancesRepo;
  catalog: Catalog;
  bus: EventBus;
  guests: Guests;
  registry: Registry;
  memory: LiveMemory;
  limits: GuestLimits;
  reclaimer: MemoryReclaimer;
  /** shapes the instance's NICs now (all or none: on a failure they go back to `previous`) */
  applyNetLimit(instanceId: string, mbit: number | null, previous: number | null): void;
  view(name: string): InstanceView;
}

/** PATCH of an instance: validates everything first, then stages the boot size or kernel, then changes memory live. */
export async function patchInstance(d: PatchDeps, name: string, req: PatchRequest): Promise<{ instance: InstanceView; memory: MemoryChangeResult | null }> {
  const row = d.guests.row(name);
  const stopped = row.state === "stopped" || row.state === "crashed";
  if (req.maxMemoryMiB !== undefined && !stopped) {
    throw new UmldError("invalid_state", `maxMemoryMiB (the boot size) changes only while the instance is stopped; it is ${row.state}`, { state: row.state, action: "set-max-memory" });
  }
  const max = req.maxMemoryMiB ?? row.max_memory_mib;
  const target = req.memoryMiB ?? Math.min(row.memory_mib, max);
  if (target > max) throw new UmldError("memory_above_max", `memoryMiB ${target} is above maxMemoryMiB ${max} (the boot size)`, { memoryMiB: target, maxMemoryMiB: max });
  const kernel = req.kernel ? d.catalog.kernel(req.kernel) : null;
  if (req.memoryMiB !== undefined && !stopped && row.state !== "running") {
    throw new UmldError("invalid_state", `cannot change the memory of an instance that is ${row.state}`, { state: row.state, action: "set-memory" });
  }
  const hostfs = req.hostfsDir === undefined || req.hostfsDir === null ? req.hostfsDir : grantableDir(d.paths, req.hostfsDir);
  const limits = d.limits.check(row.owner, req.limits);
  const netMbit = req.limits?.netMbit;
  d.limits.change(row, limits); // first of the changes: if the guest's cgroup refuses, nothing changed
  if (netMbit !== undefined && netMbit !== row.net_mbit) {
    try {
      d.applyNetLimit(row.id, netMbit, row.net_mbit); // if the host refuses, the NICs are as they were
    } catch (e) {
      d.limits.change(d.repo.byId(row.id)!, d.limits.columnsOf(row)); // and so are the cgroup's limits
      throw e;
    }
    d.repo.update(row.id, { net_mbit: netMbit });
  }
  if (req.maxMemoryMiB !== undefined) d.repo.update(row.id, { max_memory_mib: max, memory_mib: target });
  if (req.diskQuotaMiB !== undefined) d.repo.update(row.id, { disk_quota_mib: req.diskQuotaMiB });
  if (hostfs !== undefined) d.repo.update(row.id, { hostfs_dir: hostfs });
  d.repo.update(row.id, policyColumns(req));
  if (req.hangTimeoutS !== undefined) d.registry.get(row.id)?.host.setWatchdog(req.hangTimeoutS * 1000);
  if (req.kernel !== undefined) {
    d.repo.update(row.id, { staged_kernel_id: kernel?.id ?? null });
    if (kernel) {
      const from = d.catalog.kernelById(row.booted_kernel_id ?? row.kernel_id)?.name ?? "?";
      d.bus.publish({ type: "instance.upgrade", instance: name, from, to: kernel.name, status: "staged", reason: null, timestamp: nowIso() });
    }
  }
  let memory = req.memoryMiB !== undefined ? await d.memory.set(name, req.memoryMiB) : null;
  if (req.memoryReclaim !== undefined && req.memoryReclaim !== row.memory_reclaim) {
    d.repo.update(row.id, { memory_reclaim: req.memoryReclaim });
    d.reclaimer.refresh();
    // reclaim off: the guest gets its target back (what the reclaimer took)
    const now = d.guests.row(name);
    if (req.memoryReclaim === "off" && req.memoryMiB === undefined && now.state === "running" && now.unplugged_mib > now.max_memory_mib - now.memory_mib) {
      memory = await d.memory.set(name, now.memory_mib);
    }
  }
  return { instance: d.view(name), memory };
}

/** A host directory an admin may give a guest's hostfs: an existing directory, never umld's own state. */
function grantableDir(paths: StatePaths, dir: string): string {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    throw new UmldError("invalid_request", `hostfsDir ${dir} does not exist`, { hostfsDir: dir });
  }
  if (!statSync(real).isDirectory()) throw new UmldError("invalid_request", `hostfsDir ${dir} is not a directory`, { hostfsDir: dir });
  const state = realpathSync(paths.root);
  if (real === "/" || real === state || real.startsWith(`${state}/`) || state.startsWith(`${real}/`)) {
    throw new UmldError("invalid_request", `hostfsDir may not be / nor hold or be inside umld's state directory`, { hostfsDir: dir });
  }
  if (/[,:\s=]/.test(real)) throw new UmldError("invalid_request", `hostfsDir resolves to a path UML cannot take: ${real}`, { hostfsDir: dir });
  return real;
}
