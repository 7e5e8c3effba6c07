import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import type { Logger } from "pino";
import type { HostView } from "../../protocol/fleet.js";
import { UmldError } from "../errors.js";
import { nowIso } from "../util/ids.js";
import { Cmp, Etcd, type EtcdError, type KeyValue, Ops } from "./etcd.js";
import { type AliveRecord, type InstanceClaim, Keys, type MemberRecord, ROOT, Records } from "./keys.js";
import { PrefixMirror } from "./mirror.js";
import type { PeerAuth } from "./peer-auth.js";

export interface FleetOptions {
  endpoints: string[];
  hostName: string;
  /** this host's API as the other hosts reach it */
  advertise: string;
  /** seconds a host's record outlives its last renewal (it is renewed every third of it) */
  leaseTtlS: number;
  /** STATE/fleet-host-id: this machine's id across restarts */
  hostIdFile: string;
}

/** What a host says of itself in its record, read at each renewal. */
export interface HostFigures {
  memory: { totalMiB: number; limitMiB: number; committedMiB: number };
  guests: { total: number; running: number };
}

/** This host in its fleet: its records in etcd, and the shared secret its requests to other hosts are signed with. */
export interface FleetMember {
  fleet: Fleet;
  peer: PeerAuth;
}

/** An etcd failure as the API's error: the fleet's store did not answer, nothing that needed it was done. */
export function fleetUnavailable(e: unknown): UmldError {
  if (e instanceof UmldError) return e;
  return new UmldError("fleet_unavailable", `the fleet's etcd did not answer: ${e instanceof Error ? e.message : String(e)}`);
}

/**
 * This host in a fleet: its member record (kept) and its alive record (on a
 * lease, renewed every ttl/3, gone when the host stops renewing), a mirror of
 * everything under /umld/, and the fleet-wide instance names it claims.
 */
export class Fleet {
  readonly etcd: Etcd;
  readonly mirror: PrefixMirror;
  readonly hostId: string;
  private lease: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private joinedAt = nowIso();
  /** this machine took the name of another, lost one: the names claimed under it are that machine's (its disks), never released here */
  private tookOver = false;
  /** instances this host is migrating away now: nothing else may change them (a write after the copy would be lost at the commit) */
  private readonly moving = new Set<string>();

  constructor(
    readonly o: FleetOptions,
    private readonly version: string,
    private readonly figures: () => HostFigures,
    private readonly log: Logger,
  ) {
    this.etcd = new Etcd(o.endpoints);
    this.mirror = new PrefixMirror(this.etcd, ROOT, (e) => log.warn({ err: e.message }, "fleet: the etcd watch broke; reading again"));
    if (existsSync(o.hostIdFile)) this.hostId = readFileSync(o.hostIdFile, "utf8").trim();
    else {
      this.hostId = randomBytes(16).toString("hex");
      writeFileSync(o.hostIdFile, `${this.hostId}\n`, { mode: 0o600 });
    }
  }

  get name(): string {
    return this.o.hostName;
  }

  /** Joins: the name is this machine's (or nobody's), the alive record is put on a fresh lease, and renewed from now on. */
  async join(): Promise<void> {
    const member = await this.etcd.get(Keys.member(this.name));
    const rec = Records.member(member);
    if (rec && rec.hostId !== this.hostId) {
      const alive = Records.alive(await this.etcd.get(Keys.aliveOf(this.name)));
      if (alive) throw new Error(`another machine is up in the fleet as '${this.name}' (${alive.url}): choose another --host-name`);
      this.log.warn({ host: this.name, previous: rec.url }, "fleet: taking over the name of a lost host of another machine");
      this.tookOver = true;
    }
    this.joinedAt = rec?.hostId === this.hostId ? rec.joinedAt : nowIso();
    const m: MemberRecord = { name: this.name, hostId: this.hostId, url: this.o.advertise, joinedAt: this.joinedAt };
    await this.etcd.put(Keys.member(this.name), JSON.stringify(m));
    await this.renew();
    await this.mirror.start();
    const every = Math.max(500, (this.o.leaseTtlS * 1000) / 3);
    this.timer = setInterval(() => {
      this.renew().catch((e: unknown) => this.log.warn({ err: (e as Error).message }, "fleet: could not renew this host's record"));
    }, every);
    this.timer.unref();
    this.log.info({ host: this.name, url: this.o.advertise, etcd: this.o.endpoints, leaseTtlS: this.o.leaseTtlS }, "fleet: joined");
  }

  /** Keeps the lease alive (a new one if it lapsed) and puts the alive record with this host's figures. */
  private async renew(): Promise<void> {
    if (this.closed) return;
    if (this.lease && (await this.etcd.keepAlive(this.lease)) <= 0) {
      this.log.warn({ host: this.name }, "fleet: this host's lease had expired (etcd unreachable for longer than its TTL): joining again");
      this.lease = null;
    }
    if (!this.lease) this.lease = (await this.etcd.grant(this.o.leaseTtlS)).id;
    const f = this.figures();
    const alive: AliveRecord = { hostId: this.hostId, url: this.o.advertise, version: this.version, memory: f.memory, guests: f.guests, at: nowIso() };
    await this.etcd.put(Keys.aliveOf(this.name), JSON.stringify(alive), this.lease);
  }

  /** Every host that ever joined, up (its alive record exists) or lost. */
  hosts(): HostView[] {
    const out: HostView[] = [];
    for (const kv of this.mirror.values()) {
      if (!kv.key.startsWith(Keys.members)) continue;
      const m = Records.member(kv);
      if (!m) continue;
      const a = Records.alive(this.mirror.get(Keys.aliveOf(m.name)));
      const up = a !== null && a.hostId === m.hostId;
      out.push({
        name: m.name,
        url: m.url,
        state: up ? "up" : "lost",
        self: m.name === this.name,
        version: up ? a.version : null,
        memory: up ? { ...a.memory, freeMiB: a.memory.limitMiB - a.memory.committedMiB } : null,
        guests: up ? a.guests : null,
        lastSeen: up ? a.at : null,
        joinedAt: m.joinedAt,
      });
    }
    return out.sort((x, y) => x.name.localeCompare(y.name));
  }

  /** A host that is up, by name (null: unknown or lost). */
  upHost(name: string): HostView | null {
    return this.hosts().find((h) => h.name === name && h.state === "up") ?? null;
  }

  /** Which host holds an instance's name (null: nobody in the fleet). */
  ownerOf(stored: string): string | null {
    return Records.claim(this.mirror.get(Keys.instance(stored)))?.host ?? null;
  }

  /** Every claimed name and its host. */
  claims(): Array<{ name: string; host: string }> {
    const out: Array<{ name: string; host: string }> = [];
    for (const kv of this.mirror.values()) {
      if (!kv.key.startsWith(Keys.instances)) continue;
      const c = Records.claim(kv);
      if (c) out.push({ name: kv.key.slice(Keys.instances.length), host: c.host });
    }
    return out;
  }

  /** What a tenant's instances on the other hosts count for its quotas (from their claims). */
  elsewhere(tenant: string): { instances: number; memoryMiB: number } {
    const out = { instances: 0, memoryMiB: 0 };
    for (const kv of this.mirror.values()) {
      if (!kv.key.startsWith(`${Keys.instances}${tenant}.`)) continue;
      const c = Records.claim(kv);
      if (!c || c.host === this.name) continue;
      out.instances++;
      out.memoryMiB += c.memoryMiB ?? 0;
    }
    return out;
  }

  /** Claims a name for this host, atomically (it must not exist in etcd), or throws instance_exists naming the host that has it. */
  async claim(stored: string, memoryMiB = 0): Promise<void> {
    const key = Keys.instance(stored);
    let r: Awaited<ReturnType<Etcd["txn"]>>;
    try {
      r = await this.etcd.txn([Cmp.absent(key)], [Ops.put(key, JSON.stringify({ host: this.name, createdAt: nowIso(), memoryMiB }))], [Ops.get(key)]);
    } catch (e) {
      throw fleetUnavailable(e);
    }
    if (r.succeeded) {
      const kv = await this.etcd.get(key).catch(() => null);
      if (kv) this.mirror.note(key, kv);
      return;
    }
    const holder = Records.claim(r.ranges[0]?.[0])?.host ?? "another host";
    throw new UmldError("instance_exists", `an instance named '${stored}' exists in the fleet (on host ${holder})`, { name: stored, host: holder });
  }

  /**
   * At join: this host's instances claim their names (made before it joined,
   * or while etcd was away), and names claimed for this host that it no longer
   * has (a delete whose release did not reach etcd) are released, unless this
   * machine took the name of another (those are the lost machine's). A name
   * another host holds is reported: two instances of one name, for the admin to rename.
   */
  async reconcileNames(local: readonly string[]): Promise<{ claimed: string[]; released: string[]; stale: string[]; conflicts: Array<{ name: string; host: string }> }> {
    const out = { claimed: [] as string[], released: [] as string[], stale: [] as string[], conflicts: [] as Array<{ name: string; host: string }> };
    const have = new Set(local);
    for (const name of local) {
      const key = Keys.instance(name);
      const r = await this.etcd.txn([Cmp.absent(key)], [Ops.put(key, JSON.stringify({ host: this.name, createdAt: nowIso() }))], [Ops.get(key)]);
      if (r.succeeded) out.claimed.push(name);
      else {
        const c = Records.claim(r.ranges[0]?.[0]);
        // a migration's leftover: the source after the commit, the target before it (the owner has the data)
        if (c && c.host !== this.name && (c.migratedFrom === this.name || c.migration?.to === this.name)) out.stale.push(name);
        else if (c?.host !== this.name) out.conflicts.push({ name, host: c?.host ?? "?" });
      }
    }
    if (this.tookOver) return out;
    const { kvs } = await this.etcd.range(Keys.instances);
    for (const kv of kvs) {
      const name = kv.key.slice(Keys.instances.length);
      if (Records.claim(kv)?.host === this.name && !have.has(name)) {
        await this.etcd.txn([Cmp.modRevision(kv.key, kv.modRevision)], [Ops.del(kv.key)]);
        out.released.push(name);
      }
    }
    return out;
  }

  /** The claim of a name this host holds, with its revision (throws fleet_conflict otherwise). */
  private async ownClaim(stored: string): Promise<{ kv: KeyValue; claim: InstanceClaim }> {
    let kv: KeyValue | null;
    try {
      kv = await this.etcd.get(Keys.instance(stored));
    } catch (e) {
      throw fleetUnavailable(e);
    }
    const claim = Records.claim(kv);
    if (!kv || !claim || claim.host !== this.name)
      throw new UmldError("fleet_conflict", `'${stored}' is not held by this host in the fleet (${claim?.host ?? "nobody"} holds it)`, { name: stored, host: claim?.host ?? null });
    return { kv, claim };
  }

  /** Puts a claim of this host's, if it did not change since it was read. */
  private async swapClaim(kv: KeyValue, next: InstanceClaim): Promise<void> {
    let r: Awaited<ReturnType<Etcd["txn"]>>;
    try {
      r = await this.etcd.txn([Cmp.modRevision(kv.key, kv.modRevision)], [Ops.put(kv.key, JSON.stringify(next))]);
    } catch (e) {
      throw fleetUnavailable(e);
    }
    if (!r.succeeded)
      throw new UmldError("fleet_conflict", `the fleet's record of '${kv.key.slice(Keys.instances.length)}' changed meanwhile: nothing was committed; retry`, {
        name: kv.key.slice(Keys.instances.length),
      });
  }

  /** An instance's boot size changed here: its claim says so, as the tenant's quota on the other hosts counts it. */
  async setMemory(stored: string, memoryMiB: number): Promise<void> {
    const { kv, claim } = await this.ownClaim(stored);
    if (claim.memoryMiB !== memoryMiB) await this.swapClaim(kv, { ...claim, memoryMiB });
  }

  /** Refuses a change to an instance this host is migrating away (instance_busy). */
  checkNotMoving(stored: string): void {
    if (this.moving.has(stored)) throw new UmldError("instance_busy", `'${stored}' is being migrated to another host: wait for the migration to end`, { name: stored, busy: "instance.migrate" });
  }

  /** A migration starts: the claim says where to (still this host's), and the instance is busy here until `migrationEnded`. */
  async markMigrating(stored: string, id: string, to: string): Promise<void> {
    this.checkNotMoving(stored);
    this.moving.add(stored);
    try {
      const { kv, claim } = await this.ownClaim(stored);
      await this.swapClaim(kv, { ...claim, migration: { id, to } });
    } catch (e) {
      this.moving.delete(stored);
      throw e;
    }
  }

  /** A migration this host ran ended (committed or not): the instance (if still here) takes changes again. */
  migrationEnded(stored: string): void {
    this.moving.delete(stored);
  }

  /** The commit point of a migration: the claim names the target, if nothing changed since this migration marked it. */
  async commitMigration(stored: string, id: string, to: string): Promise<void> {
    const { kv, claim } = await this.ownClaim(stored);
    if (claim.migration?.id !== id || claim.migration.to !== to) throw new UmldError("fleet_conflict", `another migration of '${stored}' marked it meanwhile`, { name: stored });
    await this.swapClaim(kv, { host: to, createdAt: claim.createdAt, memoryMiB: claim.memoryMiB ?? 0, migration: null, migratedFrom: this.name });
  }

  /** Releases a name this host holds (a name another host holds is left alone). */
  async release(stored: string): Promise<void> {
    const key = Keys.instance(stored);
    const kv = await this.etcd.get(key);
    const c = Records.claim(kv);
    if (!kv || !c || c.host !== this.name) return;
    await this.etcd.txn([Cmp.modRevision(key, kv.modRevision)], [Ops.del(key)]);
    this.mirror.note(key, null);
  }

  /** Stops renewing and ends the lease: the host shows lost at once. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.mirror.close();
    if (this.lease) await this.etcd.revoke(this.lease).catch((e: unknown) => this.log.warn({ err: (e as EtcdError).message }, "fleet: the lease could not be revoked (it lapses by itself)"));
  }
}
