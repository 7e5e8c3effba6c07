import type { Db } from "./db.js";
import { ForwardsRepo } from "./forwards-repo.js";

import type { NetworkKind } from "../../protocol/networks.js";

export interface NetworkRow {
  id: string;
  name: string;
  owner: string | null;
  kind: NetworkKind;
  subnet: string;
  nat: number;
  routed?: number;
  bridged?: number;
  dns?: number;
  ipv6?: string | null;
  host_access: number;
  host_if: string | null;
  created_at: string;
  host_uid?: number | null;
}
export interface NicRow {
  id: string;
  instance_id: string;
  network_id: string;
  slot: string;
  mac: string;
  ip: string;
  shared_ip: number;
  host_if: string | null;
  created_at: string;
}

export class NetworksRepo {
  private readonly q;
  /** port forwards of NATed host networks, on the NICs here */
  readonly forwards: ForwardsRepo;
  constructor(db: Db) {
    this.forwards = new ForwardsRepo(db);
    this.q = {
      all: db.prepare("SELECT * FROM networks ORDER BY name"),
      byName: db.prepare("SELECT * FROM networks WHERE name = ?"),
      byId: db.prepare("SELECT * FROM networks WHERE id = ?"),
      insert: db.prepare(
        "INSERT INTO networks (id, name, owner, kind, subnet, nat, routed, bridged, dns, ipv6, host_access, host_if, created_at) VALUES (@id, @name, @owner, @kind, @subnet, @nat, @routed, @bridged, @dns, @ipv6, @host_access, @host_if, @created_at)",
      ),
      delete: db.prepare("DELETE FROM networks WHERE id = ?"),
      nicsOf: db.prepare("SELECT * FROM nics WHERE instance_id = ? ORDER BY slot"),
      nicsOn: db.prepare("SELECT * FROM nics WHERE network_id = ?"),
      insertNic: db.prepare(
        "INSERT INTO nics (id, instance_id, network_id, slot, mac, ip, shared_ip, host_if, created_at) VALUES (@id, @instance_id, @network_id, @slot, @mac, @ip, @shared_ip, @host_if, @created_at)",
      ),
      allNics: db.prepare("SELECT * FROM nics"),
      deleteNic: db.prepare("DELETE FROM nics WHERE instance_id = ? AND slot = ?"),
    };
  }
  all(): NetworkRow[] {
    return this.q.all.all() as NetworkRow[];
  }
  byName(name: string): NetworkRow | undefined {
    return this.q.byName.get(name) as NetworkRow | undefined;
  }
  byId(id: string): NetworkRow | undefined {
    return this.q.byId.get(id) as NetworkRow | undefined;
  }
  insert(r: NetworkRow): void {
    this.q.insert.run(r);
  }
  delete(id: string): void {
    this.q.delete.run(id);
  }
  nicsOf(instanceId: string): NicRow[] {
    return this.q.nicsOf.all(instanceId) as NicRow[];
  }
  nicsOn(networkId: string): NicRow[] {
    return this.q.nicsOn.all(networkId) as NicRow[];
  }
  insertNic(r: NicRow): void {
    this.q.insertNic.run(r);
  }
  allNics(): NicRow[] {
    return this.q.allNics.all() as NicRow[];
  }
  deleteNic(instanceId: string, slot: string): void {
    this.q.deleteNic.run(instanceId, slot);
  }
}
