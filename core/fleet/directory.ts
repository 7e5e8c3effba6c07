import type { Logger } from "pino";
import type { Quotas } from "../../protocol/tenants.js";
import { UmldError } from "../errors.js";
import type { TokenRow } from "../store/tenants-repo.js";
import type { Tenants } from "../tenants/tenants.js";
import { Cmp, type Etcd, type KeyValue, Ops } from "./etcd.js";
import { fleetUnavailable } from "./fleet.js";
import { Keys } from "./keys.js";
import type { PrefixMirror } from "./mirror.js";

/** A tenant as etcd holds it: its id (the same on every host), name, quotas. */
interface TenantRecord {
  id: string;
  name: string;
  createdAt: string;
  quotas: Quotas;
}

type TokenRecord = Omit<TokenRow, "last_used_at">;

const parse = <T>(kv: KeyValue): T | null => {
  try {
    return JSON.parse(kv.value) as T;
  } catch {
    return null;
  }
};

/**
 * Tenants and tokens are fleet-wide: etcd holds each tenant (id, quotas) and
 * each token (its hash, rights, expiry, revocation; never its secret), and
 * every host keeps a copy in its own SQLite, applied from the mirror as the
 * records change. So a token works on every host, also when etcd is away
 * (the copy answers), and a revocation reaches every host within a watch.
 * A tenant's name is claimed in etcd at its create (two hosts cannot make two).
 */
export class TenantDirectory {
  constructor(
    private readonly etcd: Etcd,
    private readonly mirror: PrefixMirror,
    private readonly tenants: Tenants,
    private readonly log: Logger,
  ) {}

  /** Applies what etcd holds now and every change from now on; publishes this host's tenants and tokens etcd lacks (made before it joined). */
  async start(): Promise<void> {
    this.mirror.on((key, kv) => this.apply(key, kv));
    for (const kv of this.mirror.values()) this.apply(kv.key, kv);
    for (const t of this.tenants.list()) {
      const row = this.tenants.rowOf(t.name)!;
      const r = await this.etcd.txn([Cmp.absent(Keys.tenant(t.name))], [Ops.put(Keys.tenant(t.name), JSON.stringify(this.tenantRecord(t.name)))], [Ops.get(Keys.tenant(t.name))]);
      const there = r.succeeded ? null : parse<TenantRecord>(r.ranges[0]![0]!);
      if (there && there.id !== row.id) this.log.error({ tenant: t.name }, "fleet: a different tenant of this name exists in the fleet: its tokens do not work here (docs/fleet.md)");
    }
    for (const tok of this.tenants.allTokens()) {
      // absent there: made before this host joined; revoked here only (while etcd was away): the revocation goes out now
      const there = this.mirror.get(Keys.token(tok.id));
      const theirs = there ? parse<TokenRecord>(there) : null;
      if (!there) await this.etcd.txn([Cmp.absent(Keys.token(tok.id))], [Ops.put(Keys.token(tok.id), JSON.stringify(tokenRecord(tok)))]);
      else if (tok.revoked_at && theirs && !theirs.revoked_at) await this.etcd.put(Keys.token(tok.id), JSON.stringify(tokenRecord(tok)));
    }
  }

  private tenantRecord(name: string): TenantRecord {
    const row = this.tenants.rowOf(name)!;
    return { id: row.id, name, createdAt: row.created_at, quotas: this.tenants.get(name).quotas };
  }

  private apply(key: string, kv: KeyValue | null): void {
    try {
      if (key.startsWith(Keys.tenants)) {
        const name = key.slice(Keys.tenants.length);
        if (!kv) return this.removed(name);
        const t = parse<TenantRecord>(kv);
        if (t && t.name === name && !this.tenants.importTenant(t.id, t.name, t.createdAt, t.quotas))
          this.log.error({ tenant: name }, "fleet: a different tenant of this name exists here: rename or delete it");
      } else if (key.startsWith(Keys.tokens) && kv) {
        const tok = parse<TokenRecord>(kv);
        if (tok && tok.id === key.slice(Keys.tokens.length)) this.tenants.importToken(tok);
      }
    } catch (e) {
      this.log.error({ err: (e as Error).message, key }, "fleet: a tenant or token record could not be applied here");
    }
  }

  /** A tenant deleted on another host goes here too, unless it still owns something here (the admin deletes that first). */
  private removed(name: string): void {
    if (!this.tenants.exists(name)) return;
    try {
      this.tenants.delete(name);
    } catch (e) {
      // the fleet deleted it: nobody acts as it any more, here either
      this.tenants.endTokens(name);
      this.log.error({ tenant: name, err: (e as Error).message }, "fleet: a tenant deleted in the fleet still owns things on this host: kept here (its tokens revoked) until they are deleted");
    }
  }

  /** After a tenant or token command succeeded here: its record in etcd. A tenant name another host made meanwhile undoes the create here. */
  async published(kind: string, name: string, tokenId: string | null): Promise<void> {
    try {
      if (kind === "tenant.create") {
        const r = await this.etcd.txn([Cmp.absent(Keys.tenant(name))], [Ops.put(Keys.tenant(name), JSON.stringify(this.tenantRecord(name)))]);
        if (!r.succeeded) {
          this.tenants.delete(name);
          throw new UmldError("tenant_exists", `a tenant named '${name}' exists in the fleet`, { tenant: name });
        }
      } else if (kind === "tenant.update") await this.etcd.put(Keys.tenant(name), JSON.stringify(this.tenantRecord(name)));
      else if (kind === "tenant.delete") {
        // its tokens' records stay, revoked: a host that kept the tenant (it owned something there) or was away never brings one back
        const id = ((k) => (k ? parse<TenantRecord>(k)?.id : undefined))(this.mirror.get(Keys.tenant(name)));
        const at = new Date().toISOString();
        for (const kv of this.mirror.values()) {
          if (!kv.key.startsWith(Keys.tokens)) continue;
          const tok = parse<TokenRecord>(kv);
          if (tok && id && tok.tenant_id === id && !tok.revoked_at) await this.etcd.put(kv.key, JSON.stringify({ ...tok, revoked_at: at }));
        }
        await this.etcd.delete(Keys.tenant(name));
      } else if ((kind === "token.create" || kind === "token.revoke") && tokenId) {
        const row = this.tenants.tokenRowOf(tokenId);
        if (row) await this.etcd.put(Keys.token(tokenId), JSON.stringify(tokenRecord(row)));
      }
    } catch (e) {
      throw fleetUnavailable(e);
    }
  }

  /** A tenant is deleted only when it holds no instance anywhere in the fleet. */
  checkDelete(name: string, claims: Array<{ name: string; host: string }>): void {
    const held = claims.filter((c) => c.name.startsWith(`${name}.`));
    if (held.length)
      throw new UmldError(
        "tenant_in_use",
        `tenant '${name}' still owns instances in the fleet (${held
          .slice(0, 10)
          .map((c) => `${c.name} on ${c.host}`)
          .join(", ")}); delete them first`,
        { instances: held.map((c) => c.name) },
      );
  }
}

function tokenRecord(r: TokenRow): TokenRecord {
  const { last_used_at: _, ...rest } = r;
  return rest;
}
