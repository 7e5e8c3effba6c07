import type { Db } from "./db.js";

export type HostIdOwner = { kind: "instance"; id: string } | { kind: "tenant"; id: string } | { kind: "network"; id: string };

/**
 * Host uids/gids given to instances, tenants and networks (one table column each,
 * unique). A host network's uid is its dnsmasq's (given when it first needs
 * one, free again with the network); switch networks had one for their
 * uml_switch: those stay reserved (never given to anyone else).
 */
export class HostIdsRepo {
  private readonly q;
  constructor(private readonly db: Db) {
    this.q = {
      used: db.prepare(
        `SELECT host_uid AS id FROM instances WHERE host_uid IS NOT NULL
         UNION SELECT host_gid FROM tenants WHERE host_gid IS NOT NULL
         UNION SELECT host_uid FROM networks WHERE host_uid IS NOT NULL ORDER BY id`,
      ),
      instance: db.prepare("UPDATE instances SET host_uid = @hid WHERE id = @id AND host_uid IS NULL"),
      tenant: db.prepare("UPDATE tenants SET host_gid = @hid WHERE id = @id AND host_gid IS NULL"),
      network: db.prepare("UPDATE networks SET host_uid = @hid WHERE id = @id AND host_uid IS NULL"),
      missing: db.prepare(
        `SELECT 'instance' AS kind, id FROM instances WHERE host_uid IS NULL
         UNION ALL SELECT 'tenant', id FROM tenants WHERE host_gid IS NULL`,
      ),
    };
  }

  used(): number[] {
    return (this.q.used.all() as Array<{ id: number }>).map((r) => r.id);
  }

  assign(owner: HostIdOwner, hostId: number): boolean {
    return this.q[owner.kind].run({ hid: hostId, id: owner.id }).changes === 1;
  }

  /** Rows made before host ids existed (or whose assignment was interrupted). */
  missing(): HostIdOwner[] {
    return this.q.missing.all() as HostIdOwner[];
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }
}
