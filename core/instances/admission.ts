import { readFileSync } from "node:fs";
import { UmldError } from "../errors.js";
import { parseMeminfo } from "../guest/proc-parse.js";
import type { InstanceRow, InstancesRepo } from "../store/instances-repo.js";

/**
 * Default --memory-overcommit: guests may be promised 1.5 times the host's
 * memory (OpenStack Nova's long-standing RAM allocation ratio). A UML
 * guest's RAM is a sparse file: an idle 64 MiB guest backs ~10 MiB, and
 * memoryReclaim gives back what guests touched and freed.
 */
export const DEFAULT_OVERCOMMIT = 1.5;

export interface AdmissionFigures {
  committedMiB: number;
  limitMiB: number;
  hostMemTotalMiB: number;
  overcommit: number;
}

/** The host's MemTotal in MiB. */
export function hostMemTotalMiB(meminfo = readFileSync("/proc/meminfo", "utf8")): number {
  return Math.floor((parseMeminfo(meminfo).MemTotal ?? 0) / 1024);
}

/**
 * Host admission: the memory committed to guests (the boot size of every
 * instance holding a guest, plus starts still on their way) never exceeds the
 * host's MemTotal times the overcommit ratio. A start is checked and reserved
 * in one synchronous step, so concurrent starts cannot both squeeze under.
 */
export class Admission {
  /** starts between their check and their guest being recorded: id → MiB */
  private readonly pending = new Map<string, number>();

  constructor(
    private readonly repo: InstancesRepo,
    private readonly memTotalMiB: number,
    private readonly overcommit: number,
  ) {}

  figures(): AdmissionFigures {
    const committed = this.repo.committedMemory();
    let sum = 0;
    for (const mib of committed.values()) sum += mib;
    for (const [id, mib] of this.pending) if (!committed.has(id)) sum += mib;
    return { committedMiB: sum, limitMiB: Math.floor(this.memTotalMiB * this.overcommit), hostMemTotalMiB: this.memTotalMiB, overcommit: this.overcommit };
  }

  /** Reserves the instance's boot size for its start or throws host_memory_exhausted; call the result when the start is over. */
  reserve(row: InstanceRow): () => void {
    const f = this.figures();
    const requested = row.max_memory_mib;
    if (f.committedMiB + requested > f.limitMiB) {
      throw new UmldError(
        "host_memory_exhausted",
        `starting '${row.name}' would commit ${f.committedMiB + requested} MiB of guest memory, more than the host's ${f.hostMemTotalMiB} MiB × ${f.overcommit} (--memory-overcommit) = ${f.limitMiB} MiB`,
        { committedMiB: f.committedMiB, requestedMiB: requested, limitMiB: f.limitMiB, hostMemTotalMiB: f.hostMemTotalMiB, overcommit: f.overcommit },
      );
    }
    this.pending.set(row.id, requested);
    return () => {
      if (this.pending.get(row.id) === requested) this.pending.delete(row.id);
    };
  }
}
