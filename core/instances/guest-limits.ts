import { availableParallelism } from "node:os";
import type { Logger } from "pino";
import { PIDS_MIN } from "../../protocol/instances.js";
import { UmldError } from "../errors.js";
import { ensureTenantLevel, guestCgroupName, limitSupport, setLimits, setTenantWeights, type CgroupLayout, type CgroupLimits } from "../jail/cgroups.js";
import type { InstanceRow, InstancesRepo, LimitColumns } from "../store/instances-repo.js";
import type { LimitsInput } from "./commands.js";
import type { Registry } from "./registry.js";

/** The limits a guest's cgroup applies. */
const CGROUP_LIMITS = ["cpus", "cpuWeight", "ioWeight", "pids"] as const;

/** cgroup weights' default (v2 cpu.weight and io.weight; v1 cpu.shares 1024) */
const DEFAULT_WEIGHT = 100;

const MiB = 1024 * 1024;

/** How guests' cgroups are limited: the layout (null: no cgroups), the process ceiling, each tenant's CPU cap. */
export interface LimitsConfig {
  cgroups: CgroupLayout | null;
  /** --guest-max-processes: the default pids limit and the highest a guest may get (its uid's RLIMIT_NPROC) */
  maxProcesses: number;
  tenantCpuCap(tenant: string): number | null;
  /** cores the host has (cpus may not exceed it) */
  hostCpus?: number;
}

/** What a guest may use on the host besides its RAM: page structures, page tables of its processes, UML itself. */
export function memoryLimitBytes(maxMemoryMiB: number): number {
  return Math.ceil(maxMemoryMiB * 1.25 * MiB + 128 * MiB);
}

/** The cgroup limits of an instance: its own, its CPU cap never above its tenant's (cgroup v1 refuses that). */
export function guestCgroupLimits(row: InstanceRow, maxProcesses: number, tenantCap: number | null): CgroupLimits {
  return {
    memoryBytes: memoryLimitBytes(row.max_memory_mib),
    pids: row.pids_max ?? maxProcesses,
    cpuWeight: row.cpu_weight,
    ioWeight: row.io_weight,
    cpus: minCap(row.cpus, tenantCap),
  };
}

function minCap(own: number | null, tenantCap: number | null): number | null {
  if (own === null) return null; // unlimited under a capped tenant: the tenant's level caps it
  return tenantCap === null ? own : Math.min(own, tenantCap);
}

/**
 * CPU, I/O and process limits of guests through their cgroups: validated
 * (host cores, weights, the process ceiling, the owner's CPU cap), stored,
 * and put on a running guest's cgroup at once; and each tenant's CPU cap on
 * the level all its guests share (`<parent>/t-<tenant>/<guest>`).
 */
export class GuestLimits {
  private readonly hostCpus: number;

  constructor(
    private readonly c: LimitsConfig,
    private readonly repo: InstancesRepo,
    private readonly registry: Registry,
    private readonly log: Logger,
  ) {
    this.hostCpus = c.hostCpus ?? availableParallelism();
  }

  /** The columns for these limits after checking them (bounds this host and the owner's cap set); throws and changes nothing. */
  check(owner: string | null, input: LimitsInput | undefined): Partial<LimitColumns> {
    const cols: Partial<LimitColumns> = {};
    if (!input) return cols;
    const bad = (field: string, message: string, details: Record<string, unknown>) => {
      throw new UmldError("invalid_request", message, { issues: [{ path: `body.limits.${field}`, message, code: "out_of_range" }], ...details });
    };
    if (input.cpus !== undefined && input.cpus !== null) {
      if (input.cpus > this.hostCpus) bad("cpus", `limits.cpus ${input.cpus} is more than this host's ${this.hostCpus} cores`, { cpus: input.cpus, hostCpus: this.hostCpus });
      const cap = owner ? this.c.tenantCpuCap(owner) : null;
      if (cap !== null && input.cpus > cap) {
        throw new UmldError("quota_exceeded", `limits.cpus ${input.cpus} is above tenant '${owner}''s maxCpus ${cap}`, { quota: "maxCpus", limit: cap, requested: input.cpus });
      }
    }
    if (input.pids !== undefined && input.pids !== null && (input.pids < PIDS_MIN || input.pids > this.c.maxProcesses)) {
      bad("pids", `limits.pids must be ${PIDS_MIN}-${this.c.maxProcesses} (the daemon's --guest-max-processes)`, { pids: input.pids, min: PIDS_MIN, max: this.c.maxProcesses });
    }
    // the cgroup's limits (netMbit shapes NICs: core/network)
    const asked = CGROUP_LIMITS.filter((k) => input[k] !== undefined && input[k] !== null);
    if (asked.length) {
      const support = this.c.cgroups ? limitSupport(this.c.cgroups) : null;
      const missing = asked.filter((k) => !support?.[k]);
      if (missing.length) {
        throw new UmldError("unsupported", `this host's cgroups cannot apply limits.${missing.join(", limits.")}`, { limits: missing, cgroups: this.c.cgroups?.version ?? null });
      }
    }
    if (input.cpus !== undefined) cols.cpus = input.cpus;
    if (input.cpuWeight !== undefined) cols.cpu_weight = input.cpuWeight;
    if (input.ioWeight !== undefined) cols.io_weight = input.ioWeight;
    if (input.pids !== undefined) cols.pids_max = input.pids;
    return cols;
  }

  /** The cgroup a running guest of this instance is in (null: none, or not running). */
  cgroupOf(id: string): string | null {
    return this.registry.get(id)?.cgroup ?? null;
  }

  /** Stores new limits and puts them on the running guest's cgroup; if the host refuses, the old ones stay everywhere. */
  change(row: InstanceRow, cols: Partial<LimitColumns>): void {
    if (!Object.keys(cols).length) return;
    const next = { ...row, ...cols };
    const cg = this.cgroupOf(row.id);
    if (this.c.cgroups && cg) {
      const failed = setLimits(this.c.cgroups, cg, this.limitsOf(next));
      if (failed.length) {
        setLimits(this.c.cgroups, cg, this.limitsOf(row));
        throw new UmldError("host_error", `the guest's cgroup refused the new limits (${failed.join(", ")})`, { files: failed });
      }
    }
    this.repo.update(row.id, cols);
  }

  /** The row's cgroup limit columns (to put them back). */
  columnsOf(row: InstanceRow): Partial<LimitColumns> {
    return { cpus: row.cpus, cpu_weight: row.cpu_weight, io_weight: row.io_weight, pids_max: row.pids_max };
  }

  /** The limits a guest of this row gets (boot spec and live changes). */
  limitsOf(row: InstanceRow): CgroupLimits {
    return guestCgroupLimits(row, this.c.maxProcesses, row.owner ? this.c.tenantCpuCap(row.owner) : null);
  }

  /** The cgroup a new boot of this instance gets; a tenant's level is made (with its cap) first. */
  prepareBoot(row: InstanceRow): string {
    if (this.c.cgroups && row.owner) {
      const failed = ensureTenantLevel(this.c.cgroups, row.owner, this.c.tenantCpuCap(row.owner));
      if (failed.length) this.log.warn({ tenant: row.owner, files: failed }, "the tenant's CPU cap could not be set on its cgroup level");
      this.weighTenant(row.owner, row.id);
    }
    return guestCgroupName(row.id, row.owner);
  }

  /** A guest's boot ended: its tenant's level weighs one guest less. */
  guestEnded(id: string): void {
    const owner = this.repo.byId(id)?.owner;
    if (owner) this.weighTenant(owner, undefined, id);
  }

  /**
   * The tenant's level weighs what its running guests (plus one starting,
   * minus one ending) weigh at the default: a tenant's own cpuWeight/ioWeight
   * only divide its share among its guests, so no tenant outweighs others.
   */
  private weighTenant(tenant: string, starting?: string, ending?: string): void {
    if (!this.c.cgroups) return;
    let running = 0;
    for (const r of this.repo.all()) {
      if (r.owner === tenant && r.id !== ending && (r.id === starting || this.registry.has(r.id))) running++;
    }
    const w = DEFAULT_WEIGHT * Math.max(1, running);
    setTenantWeights(this.c.cgroups, tenant, w, w);
  }

  /**
   * A tenant's new CPU cap on its level and its running guests. cgroup v1
   * refuses a level's quota below one of its children's, and a child's
   * above its level's: the children go to what both caps allow, then the
   * level, then the children to what the new cap allows.
   */
  applyTenantCap(tenant: string, cap: number | null, oldCap: number | null): void {
    const l = this.c.cgroups;
    if (!l) {
      if (cap !== null) throw new UmldError("unsupported", "this host has no cgroups: a tenant CPU cap cannot be applied", { quota: "maxCpus" });
      return;
    }
    if (cap !== null && !limitSupport(l).cpus) throw new UmldError("unsupported", "this host's cgroups have no CPU controller: maxCpus cannot be applied", { quota: "maxCpus" });
    const guests = this.repo.all().filter((r) => r.owner === tenant && this.cgroupOf(r.id)?.startsWith("t-"));
    const put = (r: InstanceRow, c: number | null) => setLimits(l, this.cgroupOf(r.id)!, guestCgroupLimits(r, this.c.maxProcesses, c));
    const both = oldCap === null ? cap : cap === null ? oldCap : Math.min(oldCap, cap);
    for (const r of guests) put(r, both);
    const failed = ensureTenantLevel(l, tenant, cap);
    if (failed.length) {
      ensureTenantLevel(l, tenant, oldCap);
      for (const r of guests) put(r, oldCap);
      throw new UmldError("host_error", `the tenant's cgroup refused the CPU cap (${failed.join(", ")})`, { files: failed });
    }
    for (const r of guests) put(r, cap);
    this.log.info({ tenant, maxCpus: cap, guests: guests.length }, "tenant CPU cap applied");
  }
}
