import type { Logger } from "pino";
import type { MemoryChangeResult, MemoryView } from "../../protocol/instances.js";
import { UmldError } from "../errors.js";
import type { EventBus } from "../events/bus.js";
import { hostMemoryBytes } from "../guest/host-memory.js";
import { measuredChangeMiB, planMemoryChange, safetyFloorMiB } from "../guest/memory-plan.js";
import { parseMeminfo } from "../guest/proc-parse.js";
import type { InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import { nowIso } from "../util/ids.js";

/** What live memory needs of a guest (core/instances/guests.ts). */
export interface MemoryHost {
  row(name: string): InstanceRow;
  hasGuest(id: string): boolean;
  mconsole(name: string, command: string, timeoutMs?: number): Promise<string>;
}

/**
 * Live memory through mconsole (`config mem=-N` / `mem=+N`), verified from the
 * guest's own /proc/meminfo, counted by umld (UML cannot report it), never
 * below the safety floor, persisted and announced.
 */
export class LiveMemory {
  private locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly host: MemoryHost,
    private readonly repo: InstancesRepo,
    private readonly bus: EventBus,
    private readonly log: Logger,
    /** where an instance's RAM file is (its jail's private tmpfs) */
    private readonly ramDirOf: (instanceId: string) => string,
  ) {}

  /** Sets the target; on a running guest it plugs or unplugs now. Changes to one instance run one at a time. */
  set(name: string, targetMiB: number): Promise<MemoryChangeResult | null> {
    const row = this.host.row(name);
    if (targetMiB > row.max_memory_mib) {
      throw new UmldError("memory_above_max", `memoryMiB ${targetMiB} is above maxMemoryMiB ${row.max_memory_mib} (the boot size)`, {
        memoryMiB: targetMiB, maxMemoryMiB: row.max_memory_mib,
      });
    }
    if (row.state === "stopped" || row.state === "crashed") {
      this.repo.update(row.id, { memory_mib: targetMiB });
      return Promise.resolve(null);
    }
    if (row.state !== "running" || !this.host.hasGuest(row.id)) {
      throw new UmldError("invalid_state", `cannot change the memory of an instance that is ${row.state}`, { state: row.state, action: "set-memory" });
    }
    const prev = this.locks.get(row.id) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(() => this.apply(name, targetMiB));
    this.locks.set(row.id, next);
    return next;
  }

  /** After a boot the guest has all its memory again: the count restarts at 0, and a lower target is applied anew. */
  async afterBoot(name: string): Promise<void> {
    const row = this.host.row(name);
    this.repo.update(row.id, { unplugged_mib: 0, memory_mib: row.memory_mib });
    if (row.memory_mib < row.max_memory_mib) {
      const r = await this.set(name, row.memory_mib);
      this.log.info({ instance: name, memoryMiB: r?.memoryMiB, limitedBy: r?.limitedBy }, "memory target applied after boot");
    }
  }

  async view(name: string): Promise<MemoryView> {
    const row = this.host.row(name);
    let total: number | null = null;
    let free: number | null = null;
    if (row.state === "running" && this.host.hasGuest(row.id)) {
      const m = parseMeminfo(await this.host.mconsole(name, "proc meminfo"));
      total = m.MemTotal ?? null;
      free = m.MemFree ?? null;
    }
    return {
      targetMiB: row.memory_mib,
      maxMiB: row.max_memory_mib,
      unpluggedMiB: row.unplugged_mib,
      safetyFloorMiB: safetyFloorMiB(row.max_memory_mib),
      guestMemTotalKiB: total,
      guestMemFreeKiB: free,
      hostAllocatedBytes: row.pid ? hostMemoryBytes(row.pid, this.ramDirOf(row.id)) : null,
    };
  }

  private async apply(name: string, targetMiB: number): Promise<MemoryChangeResult> {
    const row = this.host.row(name);
    const hostBefore = row.pid ? hostMemoryBytes(row.pid, this.ramDirOf(row.id)) : null;
    const before = parseMeminfo(await this.host.mconsole(name, "proc meminfo"));
    const freeBefore = before.MemFree ?? 0;
    const plan = planMemoryChange({ maxMiB: row.max_memory_mib, unpluggedMiB: row.unplugged_mib, targetMiB, memFreeMiB: freeBefore / 1024 });
    let unplugged = row.unplugged_mib;
    let limitedBy: MemoryChangeResult["limitedBy"] = plan.limitedBy;
    if (plan.op !== "none") {
      const sign = plan.op === "unplug" ? "-" : "+";
      await this.host.mconsole(name, `config mem=${sign}${plan.amountMiB}M`, 30_000);
      const after = parseMeminfo(await this.host.mconsole(name, "proc meminfo"));
      const moved = measuredChangeMiB(plan.amountMiB, freeBefore, after.MemFree ?? 0, plan.op);
      if (moved < plan.amountMiB) limitedBy = "guest";
      unplugged += plan.op === "unplug" ? moved : -moved;
      unplugged = Math.max(0, Math.min(row.max_memory_mib, unplugged));
    }
    const reached = row.max_memory_mib - unplugged;
    this.repo.update(row.id, { unplugged_mib: unplugged, memory_mib: reached });
    const memory = await this.view(name);
    const result: MemoryChangeResult = {
      requestedMiB: targetMiB,
      memoryMiB: reached,
      unpluggedMiB: unplugged,
      limitedBy: reached === targetMiB ? null : limitedBy,
      hostFreedBytes: hostBefore !== null && memory.hostAllocatedBytes !== null ? hostBefore - memory.hostAllocatedBytes : null,
      memory,
    };
    this.log.info({ instance: name, requestedMiB: targetMiB, memoryMiB: reached, unpluggedMiB: unplugged, limitedBy: result.limitedBy }, "memory changed");
    this.bus.publish({
      type: "instance.memory", instance: name, requestedMiB: targetMiB, memoryMiB: reached, maxMemoryMiB: row.max_memory_mib,
      unpluggedMiB: unplugged, limitedBy: result.limitedBy, timestamp: nowIso(),
    });
    return result;
  }
}
