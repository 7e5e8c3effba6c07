import { ownerOfName } from "../tenants/principal.js";
import { groupsOf, parsePrefix6 } from "./address6.js";

export const DNSMASQ = "/usr/sbin/dnsmasq";

/** A guest's name on its network: `<instance>.<network>`, in its owner's names (a tenant's prefix is not part of it). */
export function dnsName(instance: string, network: string): string {
  return `${ownerOfName(instance).name}.${ownerOfName(network).name}`;
}

export interface DnsRecord {
  name: string;
  ip: string;
  /** the NIC's address on the network's IPv6 prefix (an AAAA record), if it has one */
  ip6?: string | null;
}

export interface DnsSpec {
  networkId: string;
  /** the network's own host uid: its dnsmasq processes run as it */
  uid: number;
  gateway: string;
  records: DnsRecord[];
  /** false: no DNS at all (a dnsmasq only for router advertisements) */
  names?: boolean;
  /** the network's IPv6 /64 and its bridge: router advertisements there (SLAAC, the host as router) */
  ra?: { bridge: string; prefix: string } | null;
}

/** What a network's dnsmasq does: answer names (`dns`), or advertise the prefix (`ra`). Separate processes: the one parsing guests' DNS never holds more than port 53. */
export type DnsRole = "dns" | "ra";
export type DnsCap = "net_bind_service" | "net_raw" | "net_admin";

/** The capabilities each role keeps: port 53 for names; router advertisements need a raw ICMPv6 socket, and dnsmasq refuses to do them without CAP_NET_ADMIN. */
export const ROLE_CAPS: Record<DnsRole, DnsCap[]> = { dns: ["net_bind_service"], ra: ["net_raw", "net_admin"] };

const NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** The processes a network needs: names when it serves them, advertisements when it has a prefix. */
export function dnsRoles(s: DnsSpec): DnsRole[] {
  return [...(s.names === false ? [] : (["dns"] as const)), ...(s.ra ? (["ra"] as const) : [])];
}

/**
 * dnsmasq's arguments for one role of one network, run in the foreground by
 * umld's jail (its own uid, no user switch, no pid file of its own: umld
 * writes that), logging to stderr. `dns`: only the gateway address, no
 * upstream, no hosts file, no DHCP: it answers `<instance>.<network>` (A, and
 * AAAA on a network with a prefix) for the network's NICs and nothing else.
 * `ra`: router advertisements on the bridge (ra-only: addresses by SLAAC, no
 * DHCPv6), no DNS. The records are on the command line, so a running dnsmasq
 * whose command line differs is stale (re-adoption).
 */
export function dnsmasqArgs(s: DnsSpec, role: DnsRole): string[] {
  if (!IPV4.test(s.gateway)) throw new Error(`refusing address '${s.gateway}'`);
  const common = ["--keep-in-foreground", "--user=", "--group=", "--pid-file", "--log-facility=-", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces", "--except-interface=lo"];
  if (role === "ra") {
    const p = s.ra ? parsePrefix6(s.ra.prefix) : null;
    if (!s.ra || !p || "problem" in p || !/^umlbr-[0-9a-f]{8}$/.test(s.ra.bridge)) throw new Error(`refusing router advertisements for '${s.ra?.prefix}' on '${s.ra?.bridge}'`);
    const b = s.ra.bridge;
    return [...common, "--port=0", `--interface=${b}`, "--enable-ra", `--dhcp-range=${p.prefix.split("/")[0]},ra-only,64`, `--ra-param=${b},high,10`, "--leasefile-ro", "--quiet-ra"];
  }
  const records = s.records.map((r) => {
    if (!NAME.test(r.name) || !IPV4.test(r.ip) || (r.ip6 != null && !groupsOf(r.ip6))) throw new Error(`refusing DNS record '${r.name}'`);
    return `--host-record=${r.name},${r.ip}${r.ip6 ? `,${r.ip6}` : ""}`;
  });
  return [...common, `--listen-address=${s.gateway}`, ...records.sort()];
}
