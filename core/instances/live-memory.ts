import type { Logger } from "pino";
import type { MemoryChangeResult, MemoryView } from "../../protocol/instances.js";
import { UmldError } from "../errors.js";
import type { EventBus } from "../events/bus.js";
import { hostMemoryBytes } from "../guest/host-memory.js";
import { measuredChangeMiB, planMemoryChange, safetyFloorMiB } from "../guest/memory-plan.js";
import { parseMeminfo } from "../guest/proc-parse.js";
import { reclaimHeadroomMiB, type MemSample } from "../guest/reclaim-policy.js";
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
/** One UML process of an instance: a boot, and each reboot (a new process, all its memory plugged) within it. */
export function processKey(row: Pick<InstanceRow, "boot_count" | "pid">): string {
  return `${row.boot_count}:${row.pid ?? "-"}`;
}

export class LiveMemory {
  private locks = new Map<string, Promise<unknown>>();
  /** the guest process (processKey) for which the unplugged count is right again (once afterBoot re-applied the target) */
  private settled = new Map<string, string>();

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
        memoryMiB: targetMiB,
        maxMemoryMiB: row.max_memory_mib,
      });
    }
    if (row.state === "stopped" || row.state === "crashed") {
      this.repo.update(row.id, { memory_mib: targetMiB });
      return Promise.resolve(null);
    }
    if (row.state !== "running" || !this.host.hasGuest(row.id)) {
      throw new UmldError("invalid_state", `cannot change the memory of an instance that is ${row.state}`, { state: row.state, action: "set-memory" });
    }
    return this.serial(row.id, () => this.apply(name, targetMiB));
  }

  /** Changes to one instance's memory run one at a time (requests, boots, the reclaimer). */
  private serial<T>(id: string, work: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(work);
    this.locks.set(id, next);
    void next
      .finally(() => {
        if (this.locks.get(id) === next) this.locks.delete(id);
      })
      .catch(() => {});
    return next;
  }

  /** Whether umld's count of unplugged memory is true for the guest's current boot (the reclaimer acts only then). */
  isSettled(row: InstanceRow): boolean {
    return this.settled.get(row.id) === processKey(row);
  }

  /** An adopted guest: the count a previous daemon persisted is its count. */
  settle(id: string): void {
    const row = this.repo.byId(id);
    if (row) this.settled.set(id, processKey(row));
  }

  /** The guest's free and available memory now (one mconsole round trip). */
  async sample(name: string, timeoutMs: number): Promise<MemSample> {
    const m = parseMeminfo(await this.host.mconsole(name, "proc meminfo", timeoutMs));
    if (m.MemFree === undefined || m.MemAvailable === undefined) throw new UmldError("host_error", "the guest's /proc/meminfo has no MemFree or MemAvailable");
    return { at: Date.now(), freeKiB: m.MemFree, availKiB: m.MemAvailable };
  }

  /**
   * One step of the reclaimer: unplug or plug `amountMiB` on a guest last
   * seen with `freeBeforeKiB` free. Only the unplugged count changes: the
   * target (memoryMiB) stays the ceiling. A plug always completes (UML frees
   * pages it holds); an unplug is measured in the guest, as UML answers OK
   * whatever it managed. Returns the MiB that moved.
   */
  reclaimStep(name: string, op: "plug" | "unplug", amountMiB: number, freeBeforeKiB: number, process: string): Promise<number> {
    const id = this.host.row(name).id;
    return this.serial(id, async () => {
      const row = this.host.row(name);
      if (row.state !== "running" || !this.host.hasGuest(row.id) || processKey(row) !== process || !this.isSettled(row)) return 0;
      const amount = op === "plug" ? Math.min(amountMiB, row.unplugged_mib) : Math.min(amountMiB, row.max_memory_mib - row.unplugged_mib);
      if (amount <= 0) return 0;
      await this.host.mconsole(name, `config mem=${op === "plug" ? "+" : "-"}${amount}M`, 30_000);
      let moved = amount;
      if (op === "unplug") moved = measuredChangeMiB(amount, freeBeforeKiB, parseMeminfo(await this.host.mconsole(name, "proc meminfo")).MemFree ?? freeBeforeKiB, "unplug");
      const now = this.host.row(name);
      const unplugged = Math.max(0, Math.min(now.max_memory_mib, now.unplugged_mib + (op === "unplug" ? moved : -moved)));
      this.repo.update(now.id, { unplugged_mib: unplugged });
      this.log.debug({ instance: name, op, askedMiB: amountMiB, movedMiB: moved, unpluggedMiB: unplugged }, "memory reclaim step");
      this.bus.publish({
        type: "instance.memory",
        instance: name,
        requestedMiB: now.max_memory_mib - unplugged,
        memoryMiB: now.max_memory_mib - unplugged,
        maxMemoryMiB: now.max_memory_mib,
        unpluggedMiB: unplugged,
        limitedBy: null,
        by: "reclaim",
        timestamp: nowIso(),
      });
      return moved;
    });
  }

  /** After a boot the guest has all its memory again: the count restarts at 0, and a lower target is applied anew. */
  async afterBoot(name: string): Promise<void> {
    const row = this.host.row(name);
    this.repo.update(row.id, { unplugged_mib: 0, memory_mib: row.memory_mib });
    try {
      if (row.memory_mib < row.max_memory_mib) {
        const r = await this.set(name, row.memory_mib);
        this.log.info({ instance: name, memoryMiB: r?.memoryMiB, limitedBy: r?.limitedBy }, "memory target applied after boot");
      }
    } finally {
      this.settled.set(row.id, processKey(this.repo.byId(row.id) ?? row)); // a failed re-apply changed no count
    }
  }

  async view(name: string): Promise<MemoryView> {
    const row = this.host.row(name);
    let total: number | null = null;
    let free: number | null = null;
    let avail: number | null = null;
    if (row.state === "running" && this.host.hasGuest(row.id)) {
      const m = parseMeminfo(await this.host.mconsole(name, "proc meminfo"));
      total = m.MemTotal ?? null;
      free = m.MemFree ?? null;
      avail = m.MemAvailable ?? null;
    }
    return {
      targetMiB: row.memory_mib,
      maxMiB: row.max_memory_mib,
      unpluggedMiB: row.unplugged_mib,
      safetyFloorMiB: safetyFloorMiB(row.max_memory_mib),
      reclaim: row.memory_reclaim,
      headroomMiB: reclaimHeadroomMiB(row.max_memory_mib),
      guestMemTotalKiB: total,
      guestMemFreeKiB: free,
      guestMemAvailableKiB: avail,
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
      type: "instance.memory",
      instance: name,
      requestedMiB: targetMiB,
      memoryMiB: reached,
      maxMemoryMiB: row.max_memory_mib,
      unpluggedMiB: unplugged,
      limitedBy: result.limitedBy,
      by: "request",
      timestamp: nowIso(),
    });
    return result;
  }
}
