import type { Logger } from "pino";
import type { NetworkRow, NicRow } from "../store/networks-repo.js";
import { gatewayOf, parseSubnet } from "./address.js";
import { existsSync } from "node:fs";
import { ifbName, run, safeBridge, tableName, type ForwardRule, type HostLinks } from "./host-links.js";
import type { NicShaping } from "./nic-shaping.js";
import type { NetworkDns } from "./dns-daemons.js";
import type { DnsRecord } from "./dns.js";
import { replaceSegmentTables, segmentRules } from "./segment-guard.js";
import { gateway6 } from "./address6.js";
import { enableForwarding6, ensureBridge6 } from "./ipv6-host.js";

export interface HostSideContext {
  links: HostLinks;
  shaping: NicShaping;
  log: Logger;
  nicsOn(networkId: string): NicRow[];
  /** the host uid of a NIC's guest: its TAP's owner */
  ownerOf(instanceId: string): number;
  dns: NetworkDns;
  /** `<instance>.<network>` of each NIC on the network */
  dnsRecords(n: NetworkRow): DnsRecord[];
  /** the network's own host uid, its dnsmasq's (allocated on first use, the guest filter then lets it answer on its bridge) */
  serviceUid(n: NetworkRow): number;
  /** a NATed network's port forwards (forwards.ts) */
  forwardsOn(networkId: string): ForwardRule[];
  /** the instance's `limits.netMbit` (null: unlimited) */
  netMbitOf(instanceId: string): number | null;
}

/**
 * What a switch or host network is on the host: a bridge (a host network's
 * with its gateway address, a switch network's with none, no uplink and no
 * way into the host), a TAP per NIC owned by its guest's uid, the bridge's
 * layer-2 guard (segment-guard.ts), a host network's firewall (host-links.ts),
 * and each NIC's shaping (nic-shaping.ts). Idempotent, so the same calls
 * create and re-adopt after a daemon restart. User networks have no host side.
 */
export class HostSide {
  constructor(private readonly c: HostSideContext) {}

  /** The network's bridge, tables and every NIC's TAP and shaping. */
  ensureNetwork(n: NetworkRow): void {
    if (n.kind === "user" || !n.host_if) return;
    const subnet = parseSubnet(n.subnet)!;
    if (n.bridged === 1) {
      if (!existsSync(`/sys/class/net/${safeBridge(n.host_if)}/bridge`)) throw new Error(`the admin's bridge ${n.host_if} is gone`);
      this.c.links.pinAddress(n.host_if); // its current MAC, kept: else a TAP with a lower one (a guest sets it) becomes the host's on the LAN
    } else {
      this.c.links.ensureBridge(n.host_if, n.kind === "host" ? `${gatewayOf(subnet)}/${subnet.prefix}` : null);
      if (n.ipv6) ensureBridge6(n.host_if, `${gateway6(n.ipv6)}/64`);
    }
    this.guard(n); // before any port: a switch bridge is closed to the host from the start
    this.firewall(n);
    this.names(n);
    for (const nic of this.c.nicsOn(n.id)) {
      this.c.links.ensureTap(nic.host_if!, n.host_if, this.c.ownerOf(nic.instance_id));
      this.shape(nic); // the database is the truth: a daemon that died mid-PATCH left the old rate
    }
  }

  /** A host network's table, with its forwards, made to say what the database says. */
  firewall(n: NetworkRow): void {
    if (n.kind !== "host" || !n.host_if) return;
    this.c.links.ensureFirewall({
      table: tableName(n.id),
      bridge: n.host_if,
      subnet: n.subnet,
      nat: n.nat === 1,
      routed: n.routed === 1,
      dns: n.dns === 1,
      bridged: n.bridged === 1,
      guestMacs: this.c.nicsOn(n.id).map((x) => x.mac),
      forwards: this.c.forwardsOn(n.id),
      prefix6: n.ipv6 ?? null,
    });
    if (n.ipv6 && (n.nat === 1 || n.routed === 1)) enableForwarding6(this.c.links.stateDir, this.c.log);
  }

  /** A network without NICs goes: its tables, then its bridge. */
  removeNetwork(n: NetworkRow): void {
    if (n.kind === "user") return;
    if (n.dns === 1 || n.ipv6) this.c.dns.remove(n.id, n.host_uid ?? null);
    run("nft", ["-f", "-"], replaceSegmentTables(tableName(n.id), ""));
    if (n.kind === "host") this.c.links.removeFirewall(tableName(n.id));
    if (n.host_if && n.bridged !== 1) this.c.links.removeLink(n.host_if); // an admin's bridge stays
  }

  /**
   * The NIC's TAP in its bridge, owned by its guest (`reown`: no guest has it
   * open, so a TAP of another owner is made again), shaped when it is new.
   */
  ensureNic(n: NetworkRow, nic: NicRow, reown = false): void {
    if (!nic.host_if || !n.host_if) return;
    if (this.c.links.ensureTap(nic.host_if, n.host_if, this.c.ownerOf(nic.instance_id), reown)) this.shape(nic);
  }

  /** A NIC came or went: the bridge's guard names exactly the NICs on it. */
  guard(n: NetworkRow): void {
    if (n.kind === "user" || !n.host_if) return;
    const ports = this.c
      .nicsOn(n.id)
      .filter((x) => x.host_if)
      .map((x) => ({ tap: x.host_if!, mac: x.mac, ip: x.ip }));
    const rules = segmentRules({ table: tableName(n.id), bridge: n.host_if, isolated: n.kind === "switch", pinAddresses: n.kind === "host", lan: n.bridged === 1, prefix6: n.ipv6 ?? null, ports });
    run("nft", ["-f", "-"], replaceSegmentTables(tableName(n.id), rules));
    // its table names the guests' MACs (bridged: a new one is kept from the host before it sends; a prefix: only their addresses are routed in)
    if (n.bridged === 1 || n.ipv6) this.firewall(n);
    this.names(n);
  }

  /** A network with DNS: its dnsmasq answers exactly its NICs' names (started, or restarted when they changed). */
  names(n: NetworkRow): void {
    // a bridged network's prefix is advertised by the LAN's router, not by umld
    if ((n.dns !== 1 && !n.ipv6) || n.kind !== "host" || !n.host_if || n.bridged === 1) return;
    this.c.dns.ensure({
      networkId: n.id,
      uid: this.c.serviceUid(n),
      gateway: gatewayOf(parseSubnet(n.subnet)!),
      records: n.dns === 1 ? this.c.dnsRecords(n) : [],
      names: n.dns === 1,
      ra: n.ipv6 ? { bridge: n.host_if, prefix: n.ipv6 } : null,
    });
  }

  /** The NIC's rate: `mbit`, by default its instance's limit (null: none). */
  shape(nic: NicRow, mbit = this.c.netMbitOf(nic.instance_id)): void {
    if (!nic.host_if) return;
    this.c.shaping.apply(nic.host_if, ifbName(nic.id), mbit);
  }

  /** The NIC's TAP and IFB go (detached, or its instance deleted). */
  removeNic(nic: NicRow): void {
    if (!nic.host_if) return;
    for (const link of [ifbName(nic.id), nic.host_if]) {
      try {
        this.c.links.removeLink(link);
      } catch (e) {
        this.c.log.error({ link, err: (e as Error).message }, "cannot remove a NIC's host interface");
      }
    }
  }
}
