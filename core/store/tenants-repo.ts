import type { Db } from "./db.js";
import { EventsRepo } from "./events-repo.js";

export interface TenantRow {
  id: string;
  name: string;
  created_at: string;
  max_instances: number | null;
  max_memory_mib: number | null;
  max_disk_mib: number | null;
  max_snapshots: number | null;
  /** the CPU cap of all its guests together, in cores (its cgroup level's) */
  max_cpus: number | null;
  guest_uid: number | null;
  guest_gid: number | null;
  /** the host ports its own forwards may listen on; NULL: none */
  forward_port_first?: number | null;
  forward_port_last?: number | null;
  /** the gid its images and read-only disks are shared with its guests through (core/jail/host-ids.ts) */
  host_gid?: number | null;
}
export interface TokenRow {
  id: string;
  tenant_id: string | null;
  name: string;
  secret_hash: string;
  actions: string;
  expires_at: string | null;
  revoked_at: string | null;
  created_at: string;
  last_used_at: string | null;
}
export interface AuditRow {
  seq?: number;
  at: string;
  principal: string;
  tenant: string | null;
  action: string;
  object: string | null;
  status: number;
  outcome: string;
  remote: string | null;
  /** How many refusals this row stands for (coalesced floods); 1 for everything else. */
  count: number;
}
export interface Usage {
  instances: number;
  memoryMiB: number;
  diskMiB: number;
  snapshots: number;
}

/**
 * Tenants, their tokens, what they use, and the audit log. Instances,
 * networks, data disks and images are owned by their `owner` column (a
 * tenant's name; NULL for the admin).
 */
export class TenantsRepo {
  private readonly q;
  private readonly events: EventsRepo;
  private readonly deleteWithEvents;
  constructor(db: Db) {
    this.events = new EventsRepo(db);
    // a tenant's events go with it: one created later under its name must never replay them
    this.deleteWithEvents = db.transaction((id: string, eventsPrefix: string) => {
      this.q.delete.run(id);
      this.events.forget(eventsPrefix);
    });
    const owned = "i.owner = @tenant";
    this.q = {
      all: db.prepare("SELECT * FROM tenants ORDER BY name"),
      byName: db.prepare("SELECT * FROM tenants WHERE name = ?"),
      byId: db.prepare("SELECT * FROM tenants WHERE id = ?"),
      insert: db.prepare(
        "INSERT INTO tenants (id, name, max_instances, max_memory_mib, max_disk_mib, max_snapshots, max_cpus, forward_port_first, forward_port_last, guest_uid, guest_gid, created_at) VALUES (@id, @name, @max_instances, @max_memory_mib, @max_disk_mib, @max_snapshots, @max_cpus, @forward_port_first, @forward_port_last, @guest_uid, @guest_gid, @created_at)",
      ),
      setQuotas: db.prepare(
        "UPDATE tenants SET max_instances = @max_instances, max_memory_mib = @max_memory_mib, max_disk_mib = @max_disk_mib, max_snapshots = @max_snapshots, max_cpus = @max_cpus, forward_port_first = @forward_port_first, forward_port_last = @forward_port_last, guest_uid = @guest_uid, guest_gid = @guest_gid WHERE id = @id",
      ),
      delete: db.prepare("DELETE FROM tenants WHERE id = ?"),
      usage: db.prepare(
        `SELECT COUNT(*) AS instances, COALESCE(SUM(i.max_memory_mib), 0) AS memoryMiB,
                COALESCE(SUM(COALESCE(i.disk_quota_mib, (img.size_bytes + 1048575) / 1048576)), 0) AS diskMiB
           FROM instances i JOIN images img ON img.id = i.image_id WHERE ${owned}`,
      ),
      snapshots: db.prepare(`SELECT COUNT(*) AS n FROM snapshots s JOIN instances i ON i.id = s.instance_id WHERE ${owned}`),
      dataDisks: db.prepare("SELECT COALESCE(SUM((size_bytes + 1048575) / 1048576), 0) AS mib FROM data_disks WHERE owner = @tenant"),
      // snapshots, clone bases and merges it owns: real host disk, whoever layers on them
      images: db.prepare("SELECT COALESCE(SUM((size_bytes + 1048575) / 1048576), 0) AS mib FROM images WHERE owner = @tenant"),
      ownsNetworks: db.prepare("SELECT COUNT(*) AS n FROM networks WHERE owner = @tenant"),
      // the listen ports of forwards to the tenant's guests (a range taken away must not leave them working)
      forwardPorts: db.prepare(
        "SELECT DISTINCT f.listen_port AS port FROM forwards f JOIN nics n ON n.id = f.nic_id JOIN instances i ON i.id = n.instance_id WHERE i.owner = @tenant ORDER BY f.listen_port",
      ),
      ownedInstances: db.prepare("SELECT name FROM instances WHERE owner = @tenant ORDER BY name"),
      ownedNetworks: db.prepare("SELECT name FROM networks WHERE owner = @tenant ORDER BY name"),
      ownedDisks: db.prepare("SELECT name FROM data_disks WHERE owner = @tenant ORDER BY name"),
      ownedImages: db.prepare("SELECT name FROM images WHERE owner = @tenant ORDER BY name"),
      tokensOf: db.prepare("SELECT * FROM tokens WHERE tenant_id IS ? ORDER BY created_at"),
      token: db.prepare("SELECT * FROM tokens WHERE id = ?"),
      insertToken: db.prepare(
        "INSERT INTO tokens (id, tenant_id, name, secret_hash, actions, expires_at, revoked_at, created_at, last_used_at) VALUES (@id, @tenant_id, @name, @secret_hash, @actions, @expires_at, NULL, @created_at, NULL)",
      ),
      revoke: db.prepare("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"),
      used: db.prepare("UPDATE tokens SET last_used_at = ? WHERE id = ?"),
      audit: db.prepare(
        "INSERT INTO audit (at, principal, tenant, action, object, status, outcome, remote, count) VALUES (@at, @principal, @tenant, @action, @object, @status, @outcome, @remote, @count)",
      ),
      pruneAudit: db.prepare(
        `DELETE FROM audit WHERE seq IN (SELECT seq FROM (SELECT seq, at FROM audit ORDER BY seq LIMIT @batch)
           WHERE at < @before OR seq <= (SELECT COALESCE(MAX(seq), 0) FROM audit) - @keep)`,
      ),
      auditPage: db.prepare("SELECT * FROM audit WHERE (@tenant IS NULL OR tenant = @tenant) AND (@before IS NULL OR seq < @before) ORDER BY seq DESC LIMIT @limit"),
    };
  }
  all(): TenantRow[] {
    return this.q.all.all() as TenantRow[];
  }
  byName(name: string): TenantRow | undefined {
    return this.q.byName.get(name) as TenantRow | undefined;
  }
  byId(id: string): TenantRow | undefined {
    return this.q.byId.get(id) as TenantRow | undefined;
  }
  insert(r: TenantRow): void {
    this.q.insert.run(r);
  }
  setQuotas(r: TenantRow): void {
    this.q.setQuotas.run(r);
  }
  /** The tenant, its tokens (ON DELETE CASCADE) and the journal's events about its objects (stored names under `eventsPrefix`). */
  delete(id: string, eventsPrefix: string): void {
    this.deleteWithEvents(id, eventsPrefix);
  }
  usage(tenant: string): Usage {
    const u = this.q.usage.get({ tenant }) as Omit<Usage, "snapshots">;
    const data = (this.q.dataDisks.get({ tenant }) as { mib: number }).mib; // its data disks count too
    const images = (this.q.images.get({ tenant }) as { mib: number }).mib;
    return { ...u, diskMiB: u.diskMiB + data + images, snapshots: (this.q.snapshots.get({ tenant }) as { n: number }).n };
  }
  /** Everything a tenant owns, by stored name. */
  forwardPorts(tenant: string): number[] {
    return (this.q.forwardPorts.all({ tenant }) as Array<{ port: number }>).map((r) => r.port);
  }
  owned(tenant: string): { instances: string[]; networks: string[]; disks: string[]; images: string[] } {
    const names = (q: { all(p: object): unknown[] }) => (q.all({ tenant }) as Array<{ name: string }>).map((r) => r.name);
    return { instances: names(this.q.ownedInstances), networks: names(this.q.ownedNetworks), disks: names(this.q.ownedDisks), images: names(this.q.ownedImages) };
  }
  ownsNetworks(tenant: string): number {
    return (this.q.ownsNetworks.get({ tenant }) as { n: number }).n;
  }
  tokensOf(tenantId: string | null): TokenRow[] {
    return this.q.tokensOf.all(tenantId) as TokenRow[];
  }
  token(id: string): TokenRow | undefined {
    return this.q.token.get(id) as TokenRow | undefined;
  }
  insertToken(r: Omit<TokenRow, "revoked_at" | "last_used_at">): void {
    this.q.insertToken.run(r);
  }
  revoke(id: string, at: string): void {
    this.q.revoke.run(at, id);
  }
  used(id: string, at: string): void {
    this.q.used.run(at, id);
  }
  audit(r: AuditRow): void {
    this.q.audit.run(r);
  }
  auditPage(limit: number, tenant?: string, before?: number): AuditRow[] {
    return this.q.auditPage.all({ limit, tenant: tenant ?? null, before: before ?? null }) as AuditRow[];
  }
  /** Deletes up to `batch` of the oldest rows that are older than `before` or beyond the newest `keep`; returns how many. */
  pruneAudit(before: string, keep: number, batch: number): number {
    return this.q.pruneAudit.run({ before, keep, batch }).changes;
  }
}
