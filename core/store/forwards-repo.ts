import type { Db } from "./db.js";

export interface ForwardRow {
  id: string;
  network_id: string;
  nic_id: string;
  protocol: "tcp" | "udp";
  listen_address: string | null;
  listen_port: number;
  target_port: number;
  created_at: string;
}
/** A forward with what its rule needs: the NIC's address, and who it is for. */
export interface ForwardTarget extends ForwardRow {
  ip: string;
  /** the NIC's MAC: its IPv6 address on the network's prefix comes from it */
  mac: string;
  instance_id: string;
  slot: string;
}

export class ForwardsRepo {
  private readonly q;
  constructor(db: Db) {
    const joined = "SELECT f.*, n.ip, n.mac, n.instance_id, n.slot FROM forwards f JOIN nics n ON n.id = f.nic_id";
    this.q = {
      on: db.prepare(`${joined} WHERE f.network_id = ? ORDER BY f.protocol, f.listen_port, f.listen_address`),
      all: db.prepare(`${joined} ORDER BY f.protocol, f.listen_port`),
      byPort: db.prepare(`${joined} WHERE f.network_id = @network_id AND f.protocol = @protocol AND f.listen_port = @listen_port AND COALESCE(f.listen_address, '') = @listen_address`),
      insert: db.prepare(
        "INSERT INTO forwards (id, network_id, nic_id, protocol, listen_address, listen_port, target_port, created_at) VALUES (@id, @network_id, @nic_id, @protocol, @listen_address, @listen_port, @target_port, @created_at)",
      ),
      delete: db.prepare("DELETE FROM forwards WHERE id = ?"),
    };
  }
  on(networkId: string): ForwardTarget[] {
    return this.q.on.all(networkId) as ForwardTarget[];
  }
  all(): ForwardTarget[] {
    return this.q.all.all() as ForwardTarget[];
  }
  byPort(networkId: string, protocol: string, port: number, address: string | null): ForwardTarget | undefined {
    return this.q.byPort.get({ network_id: networkId, protocol, listen_port: port, listen_address: address ?? "" }) as ForwardTarget | undefined;
  }
  insert(r: ForwardRow): void {
    this.q.insert.run(r);
  }
  delete(id: string): void {
    this.q.delete.run(id);
  }
}
