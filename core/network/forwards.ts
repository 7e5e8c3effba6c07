import type { Logger } from "pino";
import type { ForwardProtocol, ForwardView } from "../../protocol/networks.js";
import { UmldError } from "../errors.js";
import type { ForwardTarget, ForwardsRepo } from "../store/forwards-repo.js";
import type { InstancesRepo } from "../store/instances-repo.js";
import type { NetworkRow, NetworksRepo } from "../store/networks-repo.js";
import { newId, nowIso } from "../util/ids.js";
import { ipToNumber } from "./address.js";
import { formatGroups, groupsOf, nicAddress6 } from "./address6.js";
import { BRIDGE_PREFIX, type ForwardRule } from "./host-links.js";
import type { Listener } from "./listeners.js";

export interface ForwardsContext {
  repo: ForwardsRepo;
  networks: NetworksRepo;
  instances: InstancesRepo;
  /** IPv4 addresses on the host's interfaces */
  hostAddresses(): Array<{ ifname: string; cidr: string }>;
  /** global IPv6 addresses on the host's interfaces */
  hostAddresses6(): Array<{ ifname: string; cidr: string }>;
  listeners(): Listener[];
  /** the network's table made to say what the database says (its forwards included) */
  applyFirewall(n: NetworkRow): void;
  log: Logger;
}

export interface ForwardSpec {
  network: string;
  instance: string;
  protocol: ForwardProtocol;
  listenAddress: string | null;
  listenPort: number;
  targetPort: number;
}

/** An IPv6 forward (its listen address is one, or "::") goes to the NIC's IPv6 address. */
export const isForward6 = (listenAddress: string | null) => listenAddress?.includes(":") === true;

/** The rule of a forward on a network with `prefix6` (an IPv6 forward's target is the NIC's address there). */
export function ruleOf(f: ForwardTarget, prefix6: string | null | undefined): ForwardRule {
  const ip = isForward6(f.listen_address) ? nicAddress6(prefix6, f.mac) : f.ip;
  if (!ip) throw new Error(`forward to ${f.slot} is IPv6 on a network with no prefix`);
  return { protocol: f.protocol, listenAddress: f.listen_address, listenPort: f.listen_port, ip, targetPort: f.target_port };
}

/**
 * Port forwards into NATed host networks: a host port DNATed to a guest NIC's
 * address, in the network's own nftables table (host-links.ts), so the table
 * is the one place its rules live and go. The database is the truth: a
 * forward goes with its NIC (ON DELETE CASCADE), and the table is rewritten
 * from it whenever a NIC comes or goes, and at every daemon start.
 * Who may forward what (a tenant: its own guests, ports an admin granted) is
 * the dispatcher's (core/commands/dispatch.ts).
 */
export class Forwards {
  constructor(private readonly c: ForwardsContext) {}

  list(network: string): ForwardView[] {
    const net = this.net(network);
    return this.c.repo.on(net.id).map((f) => this.view(net, f));
  }

  add(s: ForwardSpec): ForwardView {
    const net = this.net(s.network);
    if (net.kind !== "host" || net.nat !== 1) {
      throw new UmldError("not_forwardable", `network '${s.network}' is not a NATed host network: its guests are reached without forwards, or not at all`, {
        network: s.network,
        kind: net.kind,
        nat: net.nat === 1,
      });
    }
    const inst = this.c.instances.byName(s.instance);
    if (!inst) throw new UmldError("instance_not_found", `no instance named '${s.instance}'`, { instance: s.instance });
    const nic = this.c.networks.nicsOf(inst.id).find((n) => n.network_id === net.id);
    if (!nic) throw new UmldError("not_forwardable", `instance '${s.instance}' has no NIC on network '${s.network}'`, { network: s.network, instance: s.instance });
    let listen = s.listenAddress;
    if (isForward6(listen)) {
      if (!net.ipv6) throw new UmldError("not_forwardable", `network '${s.network}' has no IPv6 prefix: its guests have no IPv6 address to forward to`, { network: s.network });
      listen = this.checkListenAddress6(listen!);
    } else if (listen !== null) this.checkListenAddress(listen);
    this.checkFree(s.protocol, listen, s.listenPort);
    const id = newId();
    this.c.repo.insert({ id, network_id: net.id, nic_id: nic.id, protocol: s.protocol, listen_address: listen, listen_port: s.listenPort, target_port: s.targetPort, created_at: nowIso() });
    try {
      this.c.applyFirewall(net);
    } catch (e) {
      this.c.repo.delete(id);
      this.applyOrLog(net);
      throw new UmldError("host_error", `cannot add the forward to the network's table: ${(e as Error).message}`, { network: s.network });
    }
    this.c.log.info({ network: s.network, instance: s.instance, protocol: s.protocol, listenAddress: listen, listenPort: s.listenPort, targetPort: s.targetPort }, "port forward added");
    return this.view(net, this.c.repo.byPort(net.id, s.protocol, s.listenPort, listen)!);
  }

  remove(s: { network: string; protocol: ForwardProtocol; listenPort: number; listenAddress: string | null }): { deleted: string } {
    const net = this.net(s.network);
    const listen = isForward6(s.listenAddress) ? (canonical6(s.listenAddress!) ?? s.listenAddress) : s.listenAddress;
    const f = this.c.repo.byPort(net.id, s.protocol, s.listenPort, listen);
    const key = `${s.protocol}/${s.listenPort}${listen ? `@${listen}` : ""}`;
    if (!f) throw new UmldError("forward_not_found", `network '${s.network}' has no forward ${key}`, { network: s.network, forward: key });
    this.c.repo.delete(f.id);
    try {
      this.c.applyFirewall(net);
    } catch (e) {
      throw new UmldError("host_error", `the forward is forgotten but the network's table could not be rewritten: ${(e as Error).message}`, { network: s.network });
    }
    this.c.log.info({ network: s.network, forward: key }, "port forward removed");
    return { deleted: key };
  }

  /** An address of this host, on an interface that is not one of umld's bridges, and not loopback (DNAT from lo needs route_localnet). */
  private checkListenAddress(address: string): void {
    const n = ipToNumber(address);
    if (n === null) throw new UmldError("invalid_request", `listenAddress must be an IPv4 address`, { listenAddress: address });
    if (n >>> 24 === 127) throw new UmldError("invalid_request", `listenAddress cannot be a loopback address: forwards take traffic arriving from other hosts`, { listenAddress: address });
    const own = this.c.hostAddresses().find((a) => a.cidr.split("/")[0] === address);
    if (!own) throw new UmldError("invalid_request", `listenAddress ${address} is not an address of this host`, { listenAddress: address });
    if (own.ifname.startsWith(BRIDGE_PREFIX)) throw new UmldError("invalid_request", `listenAddress ${address} is a guest network's gateway (${own.ifname})`, { listenAddress: address });
  }

  /** An IPv6 address of this host (global, on an interface that is not one of umld's bridges), or "::" (every one); canonical. */
  private checkListenAddress6(address: string): string {
    const canon = canonical6(address);
    if (canon === null) throw new UmldError("invalid_request", `listenAddress must be an IPv4 or IPv6 address`, { listenAddress: address });
    if (canon === "::") return canon;
    const own = this.c.hostAddresses6().find((a) => canonical6(a.cidr.split("/")[0]!) === canon);
    if (!own) throw new UmldError("invalid_request", `listenAddress ${address} is not a global IPv6 address of this host`, { listenAddress: address });
    if (own.ifname.startsWith(BRIDGE_PREFIX)) throw new UmldError("invalid_request", `listenAddress ${address} is a guest network's gateway (${own.ifname})`, { listenAddress: address });
    return canon;
  }

  /** Taken: another forward (any network) or a host socket on the port, at the same address or a wildcard of the same family. */
  private checkFree(protocol: ForwardProtocol, address: string | null, port: number): void {
    const family = (a: string | null) => (a === null || !a.includes(":") ? 4 : 6);
    const wild = (a: string | null) => a === null || a === "::";
    const overlap = (other: string | null) => family(other) === family(address) && (wild(address) || wild(other) || other === address);
    const fwd = this.c.repo.all().find((f) => f.protocol === protocol && f.listen_port === port && overlap(f.listen_address));
    // the forward may be another tenant's: its network is not named
    if (fwd) throw new UmldError("port_taken", `${protocol} port ${port} is already forwarded`, { protocol, port, listenAddress: fwd.listen_address });
    // a wildcard socket may be dual-stack: it takes either family
    const sock = this.c.listeners().find((l) => l.protocol === protocol && l.port === port && (l.address === "*" || overlap(l.address)));
    if (sock) throw new UmldError("port_taken", `a host process listens on ${protocol} port ${port}`, { protocol, port, listenAddress: sock.address === "*" ? null : sock.address });
  }

  private applyOrLog(net: NetworkRow): void {
    try {
      this.c.applyFirewall(net);
    } catch (e) {
      this.c.log.error({ network: net.name, err: (e as Error).message }, "cannot rewrite the network's table");
    }
  }

  private net(name: string): NetworkRow {
    const n = this.c.networks.byName(name);
    if (!n) throw new UmldError("network_not_found", `no network named '${name}'`, { network: name });
    return n;
  }

  private view(net: NetworkRow, f: ForwardTarget): ForwardView {
    return {
      network: net.name,
      protocol: f.protocol,
      listenAddress: f.listen_address,
      listenPort: f.listen_port,
      instance: this.c.instances.byId(f.instance_id)?.name ?? "?",
      slot: f.slot,
      targetAddress: isForward6(f.listen_address) ? (nicAddress6(net.ipv6, f.mac) ?? f.ip) : f.ip,
      targetPort: f.target_port,
      createdAt: f.created_at,
    };
  }
}

/** An IPv6 address in canonical form (RFC 5952), or null when it is not one. */
function canonical6(a: string): string | null {
  const g = groupsOf(a);
  return g ? formatGroups(g) : null;
}
