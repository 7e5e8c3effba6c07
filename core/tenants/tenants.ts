import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Logger } from "pino";
import type { AuditEntry, Permission, Quotas, TenantView, TokenView } from "../../protocol/tenants.js";
import { PERMISSIONS } from "../../protocol/tenants.js";
import { UmldError } from "../errors.js";
import type { AuditRow, TenantRow, TenantsRepo, TokenRow, Usage } from "../store/tenants-repo.js";
import { newId, nowIso } from "../util/ids.js";
import { prefixOf, type Principal } from "./principal.js";
import { redactSecrets } from "./secrets.js";

/** Rights that ended: live sessions (WebSockets) holding them must end too. */
export type RightsEnded = { kind: "token-revoked"; tokenId: string } | { kind: "tenant-deleted"; tenant: string };

const TOKEN_RE = /^umld_([a-f0-9]{16})_([a-f0-9]{64})$/;

function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

type QuotaKey = keyof Usage;
const QUOTA_OF: Record<QuotaKey, keyof TenantRow> = { instances: "max_instances", memoryMiB: "max_memory_mib", diskMiB: "max_disk_mib", snapshots: "max_snapshots" };

/**
 * Tenants, their tokens (stored as sha256 of a 256-bit secret, shown once),
 * quotas checked and reserved in one synchronous step, and the audit log.
 */
export class Tenants {
  /** Reservations of requests still running, per tenant: usage the database does not show yet. */
  private inflight = new Map<string, Usage>();
  private rightsListeners = new Set<(e: RightsEnded) => void>();
  /** puts a changed CPU cap on the tenant's running guests (their common cgroup); throws if the host refuses */
  private cpuCapApplier: (tenant: string, cpus: number | null, before: number | null) => void = () => {};

  constructor(
    private readonly repo: TenantsRepo,
    private readonly log: Logger,
  ) {}

  // ---- tenants

  create(name: string, quotas: Quotas): TenantView {
    if (this.repo.byName(name)) throw new UmldError("tenant_exists", `a tenant named '${name}' already exists`, { tenant: name });
    const row: TenantRow = {
      id: newId(),
      name,
      created_at: nowIso(),
      max_instances: null,
      max_memory_mib: null,
      max_disk_mib: null,
      max_snapshots: null,
      max_cpus: null,
      forward_port_first: null,
      forward_port_last: null,
      guest_uid: null,
      guest_gid: null, // unused since every guest has a uid of its own (core/jail/host-ids.ts)
    };
    applyQuotas(row, quotas);
    this.repo.insert(row);
    this.log.info({ tenant: name, quotas }, "tenant created");
    return this.view(row);
  }

  list(): TenantView[] {
    return this.repo.all().map((r) => this.view(r));
  }

  get(name: string): TenantView {
    return this.view(this.row(name));
  }

  update(name: string, quotas: Quotas | undefined): TenantView {
    const row = this.row(name);
    const cpusBefore = row.max_cpus;
    if (quotas) applyQuotas(row, quotas);
    if (quotas?.forwardPorts !== undefined) this.refuseStrandedForwards(name, row);
    if (row.max_cpus !== cpusBefore) this.cpuCapApplier(name, row.max_cpus, cpusBefore); // first: if the host refuses, nothing changed
    this.repo.setQuotas(row);
    this.log.info({ tenant: name, quotas }, "tenant changed");
    return this.view(row);
  }

  delete(name: string): { deleted: string } {
    const row = this.row(name);
    const owned = this.repo.owned(name);
    const parts = (Object.entries(owned) as Array<[string, string[]]>).filter(([, names]) => names.length > 0);
    if (parts.length) {
      const list = parts
        .map(([kind, names]) => `${names.length} ${names.length === 1 ? kind.replace(/s$/, "") : kind} (${names.slice(0, 10).join(", ")}${names.length > 10 ? ", ..." : ""})`)
        .join(", ");
      throw new UmldError("tenant_in_use", `tenant '${name}' still owns ${list}; delete them first`, owned);
    }
    this.repo.delete(row.id, prefixOf(name)); // its tokens and its events go with it
    this.log.info({ tenant: name }, "tenant deleted");
    this.rightsEnded({ kind: "tenant-deleted", tenant: name });
    return { deleted: name };
  }

  /** A port range taken away while forwards listen there would leave them working: the admin removes them first. */
  private refuseStrandedForwards(name: string, row: TenantRow): void {
    const first = row.forward_port_first ?? null;
    const last = row.forward_port_last ?? null;
    const outside = this.repo.forwardPorts(name).filter((p) => first === null || last === null || p < first || p > last);
    if (outside.length) {
      throw new UmldError("tenant_in_use", `tenant '${name}' has forwards on ports outside that range (${outside.slice(0, 10).join(", ")}); remove them first`, { forwardPorts: outside });
    }
  }

  exists(name: string): boolean {
    return this.repo.byName(name) !== undefined;
  }

  private row(name: string): TenantRow {
    const r = this.repo.byName(name);
    if (!r) throw new UmldError("tenant_not_found", `no tenant named '${name}'`, { tenant: name });
    return r;
  }

  private view(r: TenantRow): TenantView {
    return {
      name: r.name,
      quotas: {
        maxInstances: r.max_instances,
        maxMemoryMiB: r.max_memory_mib,
        maxDiskMiB: r.max_disk_mib,
        maxSnapshots: r.max_snapshots,
        maxCpus: r.max_cpus,
        forwardPorts: r.forward_port_first != null && r.forward_port_last != null ? { first: r.forward_port_first, last: r.forward_port_last } : null,
      },
      usage: this.repo.usage(r.name),
      createdAt: r.created_at,
    };
  }

  /** A tenant's own forward listens only on a port its admin granted it (quotas.forwardPorts). */
  checkForwardPort(tenant: string, port: number): void {
    const r = this.row(tenant);
    const first = r.forward_port_first ?? null;
    const last = r.forward_port_last ?? null;
    if (first === null || last === null || port < first || port > last) {
      const granted = first !== null && last !== null ? `${first}-${last}` : "none";
      throw new UmldError("port_not_granted", `port ${port} is not in the host ports granted to tenant '${tenant}' (${granted})`, {
        port,
        granted: first !== null && last !== null ? { first, last } : null,
      });
    }
  }

  // ---- a fleet's copies (core/fleet/directory.ts): tenants and tokens made on another host, with their ids

  /** The stored rows, as the fleet copies them to the other hosts. */
  rowOf(name: string): TenantRow | undefined {
    return this.repo.byName(name);
  }

  tokenRowOf(id: string): TokenRow | undefined {
    return this.repo.token(id);
  }

  allTokens(): TokenRow[] {
    return this.repo.all().flatMap((t) => this.repo.tokensOf(t.id));
  }

  /** Takes a tenant another host made (same id) or changed; false: a different tenant of that name exists here. */
  importTenant(id: string, name: string, createdAt: string, quotas: Quotas): boolean {
    const here = this.repo.byName(name);
    if (here && here.id !== id) return false;
    if (!here) {
      this.repo.insert({
        id,
        name,
        created_at: createdAt,
        max_instances: null,
        max_memory_mib: null,
        max_disk_mib: null,
        max_snapshots: null,
        max_cpus: null,
        forward_port_first: null,
        forward_port_last: null,
        guest_uid: null,
        guest_gid: null,
      });
      this.log.info({ tenant: name }, "tenant copied from the fleet");
    }
    const v = this.get(name).quotas;
    if (JSON.stringify(v) !== JSON.stringify({ ...v, ...quotas })) this.update(name, quotas);
    return true;
  }

  /** A tenant deleted in the fleet that still owns things here: kept for the admin, but its tokens end now. */
  endTokens(name: string): void {
    const t = this.row(name);
    const at = nowIso();
    for (const tok of this.repo.tokensOf(t.id)) if (!tok.revoked_at) this.repo.revoke(tok.id, at);
    this.rightsEnded({ kind: "tenant-deleted", tenant: name });
  }

  /** Takes a token another host made or revoked (its hash only: the secret is never stored anywhere). */
  importToken(row: Omit<TokenRow, "last_used_at">): void {
    const here = this.repo.token(row.id);
    if (!here) {
      if (row.tenant_id && !this.repo.byId(row.tenant_id)) return; // its tenant is not here (yet): its record brings it again
      this.repo.insertToken(row);
    }
    const now = this.repo.token(row.id)!;
    if (row.revoked_at && !now.revoked_at) {
      this.repo.revoke(row.id, row.revoked_at);
      this.rightsEnded({ kind: "token-revoked", tokenId: row.id });
    }
  }

  // ---- tokens

  createToken(tenant: string, name: string, actions: Permission[], expiresInS?: number): TokenView & { token: string } {
    const t = this.row(tenant);
    if (this.repo.tokensOf(t.id).some((k) => k.name === name)) throw new UmldError("token_exists", `tenant '${tenant}' already has a token named '${name}'`, { token: name });
    const id = randomBytes(8).toString("hex");
    const secret = randomBytes(32).toString("hex");
    const row = {
      id,
      tenant_id: t.id,
      name,
      secret_hash: hashSecret(secret),
      actions: JSON.stringify([...new Set(actions)]),
      expires_at: expiresInS ? new Date(Date.now() + expiresInS * 1000).toISOString() : null,
      created_at: nowIso(),
    };
    this.repo.insertToken(row);
    this.log.info({ tenant, token: name, id, actions, expiresAt: row.expires_at }, "token created");
    return { ...this.tokenView({ ...row, revoked_at: null, last_used_at: null }), token: `umld_${id}_${secret}` };
  }

  listTokens(tenant: string): TokenView[] {
    return this.repo.tokensOf(this.row(tenant).id).map((r) => this.tokenView(r));
  }

  revokeToken(tenant: string, id: string): TokenView {
    const t = this.row(tenant);
    const tok = this.repo.token(id);
    if (!tok || tok.tenant_id !== t.id) throw new UmldError("token_not_found", `tenant '${tenant}' has no token ${id}`, { token: id });
    this.repo.revoke(id, nowIso());
    this.log.info({ tenant, token: tok.name, id }, "token revoked");
    this.rightsEnded({ kind: "token-revoked", tokenId: id });
    return this.tokenView(this.repo.token(id)!);
  }

  /** A bearer token to a principal, or null (unknown, wrong secret, revoked, expired, tenant gone). */
  authenticate(bearer: string): Principal | null {
    const m = TOKEN_RE.exec(bearer);
    if (!m) return null;
    const tok = this.repo.token(m[1]!);
    if (!tok) return null;
    const a = Buffer.from(hashSecret(m[2]!), "hex");
    const b = Buffer.from(tok.secret_hash, "hex");
    if (a.length !== b.length || !timingSafeEqual(a, b)) return null;
    if (tok.revoked_at) return null;
    if (tok.expires_at && Date.parse(tok.expires_at) <= Date.now()) return null;
    const tenant = tok.tenant_id ? this.repo.byId(tok.tenant_id) : undefined;
    if (tok.tenant_id && !tenant) return null;
    // a write per request is not worth it: the last use is kept to the minute
    if (!tok.last_used_at || Date.now() - Date.parse(tok.last_used_at) > 60_000) this.repo.used(tok.id, nowIso());
    const expiresAt = tok.expires_at ? Date.parse(tok.expires_at) : null;
    if (!tenant) return { kind: "admin", label: `admin:${tok.name}`, tokenId: tok.id, tenant: null, actions: null, expiresAt };
    const actions = new Set((JSON.parse(tok.actions) as string[]).filter((x): x is Permission => (PERMISSIONS as readonly string[]).includes(x)));
    return { kind: "tenant", label: `${tenant.name}:${tok.name}`, tokenId: tok.id, tenant: tenant.name, actions, expiresAt };
  }

  private tokenView(r: TokenRow): TokenView {
    return {
      id: r.id,
      name: r.name,
      tenant: r.tenant_id ? (this.repo.byId(r.tenant_id)?.name ?? null) : null,
      actions: JSON.parse(r.actions) as Permission[],
      expiresAt: r.expires_at,
      revokedAt: r.revoked_at,
      createdAt: r.created_at,
      lastUsedAt: r.last_used_at,
    };
  }

  /** Called synchronously when a token is revoked or a tenant deleted; returns the unsubscribe. */
  onRightsEnded(listener: (e: RightsEnded) => void): () => void {
    this.rightsListeners.add(listener);
    return () => this.rightsListeners.delete(listener);
  }

  /** Who puts a changed maxCpus on the tenant's cgroup (core/instances/guest-limits.ts). */
  setCpuCapApplier(apply: (tenant: string, cpus: number | null, before: number | null) => void): void {
    this.cpuCapApplier = apply;
  }

  /** The tenant's CPU cap in cores (null: none, or no such tenant). */
  cpuCap(tenant: string): number | null {
    return this.repo.byName(tenant)?.max_cpus ?? null;
  }

  private rightsEnded(e: RightsEnded): void {
    for (const l of this.rightsListeners) {
      try {
        l(e);
      } catch (err) {
        this.log.error({ err, ...e }, "rights listener failed");
      }
    }
  }

  // ---- quotas

  /**
   * Checks `delta` against the tenant's quotas with what it uses now plus
   * what its running requests reserved, and reserves it; all in one
   * synchronous step, so concurrent creates cannot both squeeze under a
   * limit. The returned function releases the reservation (call it when the
   * request is done: by then the database shows what it made).
   */
  reserve(tenant: string, delta: Partial<Usage>): () => void {
    const t = this.row(tenant);
    const used = this.repo.usage(tenant);
    const pending = this.inflight.get(tenant) ?? { instances: 0, memoryMiB: 0, diskMiB: 0, snapshots: 0 };
    for (const key of Object.keys(QUOTA_OF) as QuotaKey[]) {
      const want = delta[key] ?? 0;
      // NaN or Infinity would poison the reservations (Infinity - Infinity) and switch quotas off
      if (!Number.isFinite(want) || want < 0) throw new UmldError("invalid_request", `a ${key} reservation must be a finite, non-negative number`, { quota: key });
    }
    for (const key of Object.keys(QUOTA_OF) as QuotaKey[]) {
      const want = delta[key] ?? 0;
      const limit = t[QUOTA_OF[key]] as number | null;
      if (!want || limit === null) continue;
      const usage = used[key] + pending[key];
      if (usage + want > limit) {
        throw new UmldError("quota_exceeded", `tenant '${tenant}' would exceed its ${key} quota: ${usage} used or reserved + ${want} requested > ${limit}`, {
          quota: key,
          limit,
          usage,
          requested: want,
        });
      }
    }
    const next = { ...pending };
    for (const key of Object.keys(QUOTA_OF) as QuotaKey[]) next[key] += delta[key] ?? 0;
    this.inflight.set(tenant, next);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const cur = this.inflight.get(tenant)!;
      for (const key of Object.keys(QUOTA_OF) as QuotaKey[]) cur[key] -= delta[key] ?? 0;
    };
  }

  // ---- audit

  audit(entry: Omit<AuditRow, "at" | "seq" | "count"> & { count?: number }): void {
    // a client may paste a token anywhere in a path: the audit log keeps no secret either (its id stays)
    const row = { ...entry, action: redactSecrets(entry.action), object: entry.object === null ? null : redactSecrets(entry.object), count: entry.count ?? 1, at: nowIso() };
    this.repo.audit(row);
    this.log.info({ audit: true, ...row }, "audit");
  }

  auditLog(limit: number, tenant?: string, before?: number): AuditEntry[] {
    return this.repo.auditPage(limit, tenant, before).map((r) => ({ ...r, seq: r.seq! }));
  }
}

function applyQuotas(row: TenantRow, q: Quotas): void {
  if (q.maxInstances !== undefined) row.max_instances = q.maxInstances;
  if (q.maxMemoryMiB !== undefined) row.max_memory_mib = q.maxMemoryMiB;
  if (q.maxDiskMiB !== undefined) row.max_disk_mib = q.maxDiskMiB;
  if (q.maxSnapshots !== undefined) row.max_snapshots = q.maxSnapshots;
  if (q.maxCpus !== undefined) row.max_cpus = q.maxCpus;
  if (q.forwardPorts !== undefined) {
    const r = q.forwardPorts;
    if (r && r.first > r.last) throw new UmldError("invalid_request", `forwardPorts: first (${r.first}) is above last (${r.last})`, { forwardPorts: r });
    row.forward_port_first = r?.first ?? null;
    row.forward_port_last = r?.last ?? null;
  }
}
