import { existsSync } from "node:fs";
import { UmldError } from "../errors.js";
import type { NetworkRow } from "../store/networks-repo.js";
import { allocateIp, ipToNumber, numberToIp, type Subnet } from "./address.js";
import { ADMIN_BRIDGE, BRIDGE_PREFIX } from "./host-links.js";

/**
 * Host networks in mode bridged: guests' TAPs join a bridge the admin already
 * has (one enslaving the uplink, say), so they are on that LAN with addresses
 * of its subnet. umld never creates, addresses or deletes that bridge.
 */
export function checkAdminBridge(name: string, networks: NetworkRow[]): string {
  if (!ADMIN_BRIDGE.test(name)) throw new UmldError("invalid_request", `bridge must be an interface name (1-15 letters, digits, _ . -)`, { bridge: name });
  if (name.startsWith(BRIDGE_PREFIX)) throw new UmldError("invalid_request", `${name} is one of umld's own bridges`, { bridge: name });
  if (!existsSync(`/sys/class/net/${name}/bridge`))
    throw new UmldError("invalid_request", `no bridge named ${name} on this host (create it first, e.g. ip link add ${name} type bridge)`, { bridge: name });
  const other = networks.find((n) => n.host_if === name);
  if (other) throw new UmldError("invalid_request", `network '${other.name}' is on ${name} already`, { bridge: name, network: other.name });
  return name;
}

/**
 * A bridged NIC's address: `requested` (in the subnet, a host address, free),
 * or the first free one after the subnet's first (the LAN's router by
 * convention), skipping every address the host itself has.
 */
export function bridgedAddress(s: Subnet, cidr: string, taken: Set<string>, hostIps: string[], requested?: string): string | null {
  const skip = new Set([...taken, ...hostIps, numberToIp(s.base + 1)]);
  if (requested === undefined) return allocateIp(s, skip);
  const n = ipToNumber(requested);
  const size = 2 ** (32 - s.prefix);
  if (n === null || n <= s.base || n >= s.base + size - 1) throw new UmldError("invalid_request", `ip ${requested} is not a host address of ${cidr}`, { ip: requested, subnet: cidr });
  if (skip.has(requested)) throw new UmldError("address_in_use", `${requested} is taken on this network (another NIC, the host, or the subnet's first address: the router)`, { ip: requested });
  return requested;
}
