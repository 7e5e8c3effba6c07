import { readFileSync } from "node:fs";
import { UmldError } from "../errors.js";
import type { HostIdOwner, HostIdsRepo } from "../store/host-ids-repo.js";

/**
 * The host uids/gids umld hands out: every instance's UML runs as a uid of its
 * own (gid = uid), every tenant has a gid its images and shared disks are read
 * through (switch networks' uml_switch processes had uids too: kept reserved). The first
 * two ids of the range are groups: every guest is in SHARED (the admin's
 * shared catalogue: images, kernels); admins' guests are also in ADMIN (their
 * private images); the third runs probes of untrusted binaries. Nothing else
 * on the host may use the range.
 */
export interface HostIdRange {
  first: number;
  last: number;
}

export const DEFAULT_HOST_IDS: HostIdRange = { first: 2_000_000_000, last: 2_000_099_999 };

export const sharedGid = (r: HostIdRange) => r.first;
export const adminGid = (r: HostIdRange) => r.first + 1;
/** the uid untrusted binaries' self-descriptions run as (a kernel's --version, in a throwaway jail) */
export const probeUid = (r: HostIdRange) => r.first + 2;
const FIRST_ALLOCATED = 3;

export function parseHostIdRange(text: string): HostIdRange {
  const m = /^(\d{1,10})-(\d{1,10})$/.exec(text);
  const first = Number(m?.[1]);
  const last = Number(m?.[2]);
  if (!m || first < 65_536 || last > 4_294_967_294 || last - first < 15) {
    throw new Error(`--guest-ids must be FIRST-LAST with 65536 <= FIRST, LAST <= 4294967294 and at least 16 ids, got '${text}'`);
  }
  return { first, last };
}

/** Entries of /etc/passwd, /etc/group, /etc/subuid or /etc/subgid inside the range: a guest must never share an id with anyone. */
export function hostIdClashes(r: HostIdRange, read: (path: string) => string = (p) => readFileSync(p, "utf8")): string[] {
  const clashes: string[] = [];
  const text = (p: string) => {
    try {
      return read(p);
    } catch {
      return "";
    }
  };
  for (const file of ["/etc/passwd", "/etc/group"]) {
    for (const line of text(file).split("\n")) {
      const f = line.split(":");
      const id = Number(f[2]);
      if (f.length >= 3 && f[2] !== "" && id >= r.first && id <= r.last) clashes.push(`${file}: ${f[0]} (${id})`);
    }
  }
  for (const file of ["/etc/subuid", "/etc/subgid"]) {
    for (const line of text(file).split("\n")) {
      const f = line.split(":");
      const start = Number(f[1]);
      const count = Number(f[2]);
      if (f.length === 3 && Number.isFinite(start) && Number.isFinite(count) && start <= r.last && start + count - 1 >= r.first) {
        clashes.push(`${file}: ${f[0]} (${start}-${start + count - 1})`);
      }
    }
  }
  return clashes;
}

/** Hands out ids from the range: the lowest free one, recorded with its owner in one transaction. */
export class HostIds {
  constructor(
    private readonly repo: HostIdsRepo,
    readonly range: HostIdRange,
  ) {}

  allocate(owner: HostIdOwner): number {
    return this.repo.transaction(() => {
      const used = this.repo.used();
      let next = this.range.first + FIRST_ALLOCATED;
      for (const id of used) {
        if (id < next) continue;
        if (id > next) break;
        next++;
      }
      if (next > this.range.last) {
        throw new UmldError("host_error", `no free host id left in ${this.range.first}-${this.range.last} (--guest-ids)`, { range: this.range });
      }
      if (!this.repo.assign(owner, next)) throw new UmldError("host_error", `could not record host id ${next} for ${owner.kind} ${owner.id}`);
      return next;
    });
  }

  /** Gives an id to every row that has none yet (rows from before host ids existed). */
  backfill(): number {
    const missing = this.repo.missing();
    for (const o of missing) this.allocate(o);
    return missing.length;
  }

  /** Whether a uid belongs to the range (a guest's or a switch's). */
  contains(id: number): boolean {
    return id >= this.range.first && id <= this.range.last;
  }
}
