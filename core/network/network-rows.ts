import { existsSync } from "node:fs";
import { USER_SUBNET, type NetworkKind, type NetworkView } from "../../protocol/networks.js";
import { UmldError } from "../errors.js";
import type { NetworkRow, NicRow } from "../store/networks-repo.js";
import { ownerOfName } from "../tenants/principal.js";
import { newId, nowIso } from "../util/ids.js";
import { allocateIp, gatewayOf, macFor, overlaps, parseSubnet } from "./address.js";
import { bridgedAddress, checkAdminBridge } from "./bridged.js";
import { DNSMASQ } from "./dns.js";
import { bridgeName, tapName } from "./host-links.js";
import { checkPrefix6, gateway6, nicAddress6 } from "./ipv6.js";
import { SLIRP } from "./slirp.js";

/** The guest address slirp gives every user NIC. */
export const USER_GUEST_IP = "10.0.2.15";

export interface NewNetwork {
  name: string;
  kind: NetworkKind;
  subnet: string | undefined;
  nat: boolean;
  hostAccess: boolean;
  routed: boolean;
  bridge: string | undefined;
  dns: boolean;
  ipv6: string | undefined;
}

type HostAddresses = () => Array<{ ifname: string; cidr: string }>;

/** A new network's row, every field checked against the others, the networks there are and the host's addresses; throws what is wrong. */
export function newNetworkRow(req: NewNetwork, existing: NetworkRow[], hostAddresses: HostAddresses): NetworkRow {
  const { name, kind, nat, hostAccess, routed, bridge, dns, ipv6 } = req;
  let subnet = req.subnet;
  if (existing.some((n) => n.name === name)) throw new UmldError("network_exists", `a network named '${name}' already exists`, { network: name });
  if (kind === "user") {
    if (subnet !== undefined && subnet !== USER_SUBNET) throw new UmldError("invalid_request", `user networks are always ${USER_SUBNET} (slirp's own)`, { subnet });
    subnet = USER_SUBNET;
  } else if (subnet === undefined) {
    throw new UmldError("invalid_request", `a ${kind} network needs a subnet, e.g. 10.77.0.0/24`, { kind });
  }
  if (nat && kind !== "host") throw new UmldError("invalid_request", `nat is for host networks (user networks are always NATed, switch networks never)`, { kind });
  if (routed && kind !== "host") throw new UmldError("invalid_request", `mode routed is for host networks`, { kind });
  if (routed && nat) throw new UmldError("invalid_request", `a routed network is not NATed: its guests keep their own addresses`, { mode: "routed", nat });
  if (bridge !== undefined && (kind !== "host" || nat || routed)) throw new UmldError("invalid_request", `mode bridged (with a bridge) is for host networks, not NATed or routed`, { kind, bridge });
  if (bridge !== undefined) checkAdminBridge(bridge, existing);
  if (dns && (kind !== "host" || bridge !== undefined)) throw new UmldError("invalid_request", `dns is for host networks umld addresses (not switch, user or bridged)`, { kind, dns });
  if (dns && !existsSync(DNSMASQ)) throw new UmldError("unsupported", `DNS names need ${DNSMASQ} (Debian package dnsmasq-base)`, { dns });
  if (hostAccess && kind !== "user")
    throw new UmldError("invalid_request", `hostAccess is for user networks (a host network's guests reach the host with ping only; a switch network has no host side)`, { kind });
  const prefix6 = ipv6 === undefined ? null : checkPrefix6(ipv6, kind, bridge, existing);
  const parsed = parseSubnet(subnet);
  if (!parsed) throw new UmldError("invalid_request", `subnet must be an IPv4 network address with a /8../30 prefix, e.g. 10.77.0.0/24`, { subnet });
  if (kind === "host") {
    const clash = [
      ...existing.filter((n) => n.kind === "host").map((n) => ({ what: `network '${n.name}'`, cidr: n.subnet })),
      ...(bridge !== undefined ? [] : hostAddresses()).map((a) => ({ what: `host interface ${a.ifname}`, cidr: a.cidr })),
    ].find((o) => overlaps(parsed, o.cidr));
    if (clash) throw new UmldError("subnet_conflict", `${subnet} overlaps ${clash.cidr} of ${clash.what}: a host network's subnet is routed on the host`, { subnet, conflict: clash.cidr });
  }
  if (kind === "user" && !existsSync(SLIRP)) throw new UmldError("unsupported", `user networks need ${SLIRP} (Debian package slirp)`, { kind });
  const id = newId();
  const row: NetworkRow = {
    id,
    name,
    owner: ownerOfName(name).tenant,
    kind,
    subnet,
    nat: nat ? 1 : 0,
    routed: routed ? 1 : 0,
    bridged: bridge !== undefined ? 1 : 0,
    dns: dns ? 1 : 0,
    ipv6: prefix6,
    host_access: hostAccess ? 1 : 0,
    host_if: kind === "user" ? null : (bridge ?? bridgeName(id)),
    created_at: nowIso(),
  };
  return row;
}

/** A new NIC's row on `net` at `slot`: its address (allocated, slirp's, or on a bridged network the one asked for) and MAC. */
export function newNicRow(instanceId: string, net: NetworkRow, slot: string, nicsOnNet: NicRow[], hostAddresses: () => Array<{ cidr: string }>, mac?: string, requestedIp?: string): NicRow {
  const subnet = parseSubnet(net.subnet)!;
  const taken = new Set(nicsOnNet.map((n) => n.ip));
  if (net.kind === "host") taken.add(gatewayOf(subnet));
  if (requestedIp !== undefined && net.bridged !== 1)
    throw new UmldError("invalid_request", `ip is for NICs on bridged networks (umld allocates the others' addresses)`, { ip: requestedIp, network: net.name });
  const ip =
    net.kind === "user"
      ? USER_GUEST_IP
      : net.bridged === 1
        ? bridgedAddress(
            subnet,
            net.subnet,
            taken,
            hostAddresses().map((a) => a.cidr.split("/")[0]!),
            requestedIp,
          )
        : allocateIp(subnet, taken);
  if (!ip) throw new UmldError("subnet_full", `network '${net.name}' has no free address in ${net.subnet}`, { network: net.name });
  if (mac && net.kind !== "user" && nicsOnNet.some((n) => n.mac === mac)) {
    throw new UmldError("mac_in_use", `another NIC on '${net.name}' has the MAC ${mac}`, { mac, network: net.name });
  }
  const id = newId();
  const nic: NicRow = {
    id,
    instance_id: instanceId,
    network_id: net.id,
    slot,
    ip,
    created_at: nowIso(),
    mac: mac ?? macFor(ip, subnet.prefix, net.kind === "host" && (net.nat === 1 || net.routed === 1 || net.bridged === 1)),
    shared_ip: net.kind === "user" ? 1 : 0,
    host_if: net.kind === "user" ? null : tapName(id),
  };
  return nic;
}

export function networkView(r: NetworkRow, nics: NicRow[], instanceName: (id: string) => string): NetworkView {
  return {
    name: r.name,
    kind: r.kind,
    subnet: r.subnet,
    createdAt: r.created_at,
    nat: r.kind === "user" || r.nat === 1,
    routed: r.routed === 1,
    bridged: r.bridged === 1,
    dns: r.dns === 1,
    ipv6: r.ipv6 ?? null,
    gateway6: r.ipv6 && r.bridged !== 1 ? gateway6(r.ipv6) : null,
    hostAccess: r.host_access === 1,
    gateway: r.kind === "host" ? gatewayOf(parseSubnet(r.subnet)!) : r.kind === "user" ? "10.0.2.2" : null,
    bridge: r.host_if,
    switchPid: null, // switch networks have no process since they moved to kernel bridges
    nics: nics.map((n) => ({ instance: instanceName(n.instance_id), slot: n.slot, ip: n.ip, ipv6: nicAddress6(r.ipv6, n.mac), mac: n.mac })),
  };
}
