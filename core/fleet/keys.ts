import type { KeyValue } from "./etcd.js";

/**
 * What the fleet keeps in etcd, key by key (docs/fleet.md draws it). Values
 * are JSON. etcd is trusted infrastructure (only hosts hold its address), but
 * a record is still checked for shape when read: a bad one is skipped.
 */
export const ROOT = "/umld/";
export const Keys = {
  members: `${ROOT}members/`,
  member: (host: string) => `${ROOT}members/${host}`,
  alive: `${ROOT}alive/`,
  aliveOf: (host: string) => `${ROOT}alive/${host}`,
  instances: `${ROOT}instances/`,
  instance: (name: string) => `${ROOT}instances/${name}`,
  tenants: `${ROOT}tenants/`,
  tenant: (name: string) => `${ROOT}tenants/${name}`,
  tokens: `${ROOT}tokens/`,
  token: (id: string) => `${ROOT}tokens/${id}`,
};

/** A host that joined once (no lease: it stays when the host is lost, so it can be shown lost). */
export interface MemberRecord {
  name: string;
  /** random, kept in STATE/fleet-host-id: the same machine across restarts; another machine under the same name is refused while this one is up */
  hostId: string;
  url: string;
  joinedAt: string;
}

/** A host that is up: put with its lease, gone when the lease expires. */
export interface AliveRecord {
  hostId: string;
  url: string;
  version: string;
  memory: { totalMiB: number; limitMiB: number; committedMiB: number };
  guests: { total: number; running: number };
  at: string;
}

/** An instance's name, claimed fleet-wide: the one record of which host owns it. */
export interface InstanceClaim {
  host: string;
  createdAt: string;
  /** its boot size when claimed: a tenant's memory quota counts it on every host */
  memoryMiB?: number;
  /** a cold migration under way: the source still owns it until the claim names the target */
  migration?: { id: string; to: string } | null;
  /** the host it was migrated from: a copy left there is stale (the source removes it) */
  migratedFrom?: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown) => typeof v === "string";

/** The JSON of a record, or null when it is not of the expected shape (`check` says what it must hold). */
function parse<T>(kv: KeyValue | undefined | null, check: (o: Record<string, unknown>) => boolean): T | null {
  if (!kv) return null;
  try {
    const o = JSON.parse(kv.value) as unknown;
    return isObj(o) && check(o) ? (o as T) : null;
  } catch {
    return null;
  }
}

export const Records = {
  member: (kv: KeyValue | undefined | null) => parse<MemberRecord>(kv, (o) => str(o.name) && str(o.hostId) && str(o.url) && str(o.joinedAt)),
  alive: (kv: KeyValue | undefined | null) => parse<AliveRecord>(kv, (o) => str(o.hostId) && str(o.url) && isObj(o.memory) && isObj(o.guests) && str(o.at)),
  claim: (kv: KeyValue | undefined | null) => parse<InstanceClaim>(kv, (o) => str(o.host) && str(o.createdAt)),
};
