import { groupsOf, linkLocalAddress, slaacAddress } from "./address6.js";

/**
 * The layer-2 rules of one network's bridge, in nftables tables of its own
 * (`bridge umld_<id>` and, for switch networks, `netdev umld_<id>`), replaced
 * atomically whenever a NIC comes or goes:
 *
 * - every guest's port (its TAP) may send only from its NIC's MAC, so a guest
 *   cannot poison the bridge's forwarding table to steal a neighbour's frames
 *   or flood it; on a host network (routed and NATed by the host) also IPv4
 *   and ARP only from its NIC's address (or 0.0.0.0), and no VLAN-tagged
 *   frame (the pins match the ether type a tag hides); IPv6 only from its
 *   link-local and SLAAC addresses (or ::, duplicate address detection),
 *   neighbour advertisements and duplicate address detection (and ARP
 *   probes) only for those, and no router advertisement
 *   or redirect (a guest never becomes its neighbours' router); no DHCP or
 *   DHCPv6 answer to a neighbour's client port (a guest never configures
 *   its neighbours: on an admin's bridge, the LAN's machines); on an
 *   admin's bridge (bridged) IPv4 and ARP only, and IPv6 pinned the same
 *   way when the network has the LAN's prefix (else none at all);
 * - a port is given only unicast frames to its NIC's MAC (and broadcast and
 *   multicast): a guest that sets its TAP's host-side MAC to a neighbour's
 *   (a TUN ioctl on its own descriptor) makes the bridge send that
 *   neighbour's frames from the host to its port, and a neighbour whose
 *   forwarding entry aged out has its unicast flooded to every port;
 * - a switch network's bridge has no address and is no way into the host:
 *   nothing it would pass up to the host's stack (ARP, IPv4 to any host
 *   address, IPv6) gets there, and the host sends nothing into it. Bound to
 *   the bridge device itself (ingress and egress hooks), so this holds from
 *   the moment the bridge exists, whatever its ports.
 */
export interface SegmentPort {
  tap: string;
  mac: string;
  ip: string;
}

export interface SegmentGuardSpec {
  /** umld_<network id>: the same name as a host network's inet table, in other families */
  table: string;
  bridge: string;
  /** a switch network: the host takes no part in it */
  isolated: boolean;
  /** a host network: a port sends IPv4 and ARP only from its NIC's address, IPv6 only from its own */
  pinAddresses: boolean;
  /** the network's IPv6 /64: each port's SLAAC address on it is its own too */
  prefix6?: string | null;
  /** on an admin's bridge (the LAN): a port sends IPv4 and ARP only, nothing the pins do not cover */
  lan?: boolean;
  ports: SegmentPort[];
}

const IFNAME = /^uml(br|t)-[0-9a-f]{8,10}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const TABLE = /^umld_[0-9a-f]{16}$/;

function check(re: RegExp, v: string, what: string): string {
  if (!re.test(v)) throw new Error(`refusing ${what} '${v}'`);
  return v;
}

/** A port's IPv6: only from its link-local and SLAAC addresses (or ::), neighbour advertisements only for those, never a router's. */
function ipv6Pins(tap: string, mac: string, prefix6: string | null): string[] {
  const own6 = [linkLocalAddress(mac), ...(prefix6 ? [slaacAddress(prefix6, mac)] : [])];
  // the target of a neighbour solicitation or advertisement (ICMPv6 bytes 8-23): nft 1.0.6 has no name for it
  const targets = own6.map(
    (a) =>
      `0x${groupsOf(a)!
        .map((x) => x.toString(16).padStart(4, "0"))
        .join("")}`,
  );
  return [
    `    ${tap} ether type ip6 ip6 saddr != { ::, ${own6.join(", ")} } drop`,
    // the unspecified source is for duplicate address detection, MLD and solicitations before a link-local exists, nothing else
    `    ${tap} ether type ip6 ip6 saddr :: meta l4proto != ipv6-icmp drop`,
    `    ${tap} ether type ip6 ip6 saddr :: icmpv6 type != { nd-neighbor-solicit, nd-router-solicit, mld-listener-report, mld2-listener-report } drop`,
    // duplicate address detection only for its own addresses: a neighbour whose tentative address it probed took it as taken
    `    ${tap} ether type ip6 ip6 saddr :: icmpv6 type nd-neighbor-solicit @th,64,128 != { ${targets.join(", ")} } drop`,
    // a fragment shows no ICMPv6 header to the two rules below: one that could be neighbour discovery (hop limit 255) never passes
    `    ${tap} ether type ip6 ip6 hoplimit 255 exthdr frag exists drop`,
    `    ${tap} icmpv6 type { nd-router-advert, nd-redirect } drop`,
    // a DHCPv6 server's answer (to a client's port 546): a neighbour would take its resolvers from the guest
    `    ${tap} ether type ip6 udp dport 546 drop`,
    `    ${tap} icmpv6 type nd-neighbor-advert @th,64,128 != { ${targets.join(", ")} } drop`,
  ];
}

export function segmentRules(g: SegmentGuardSpec): string {
  const table = check(TABLE, g.table, "table name");
  const bridge = check(g.isolated ? IFNAME : /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/, g.bridge, "interface name"); // a host network may be on an admin's bridge
  const ports = g.ports.flatMap((p) => {
    const tap = `iifname "${check(IFNAME, p.tap, "interface name")}"`;
    const lines = [`    ${tap} ether saddr != ${check(MAC, p.mac, "MAC")} drop`];
    if (g.pinAddresses) {
      const own = `{ 0.0.0.0, ${check(IPV4, p.ip, "address")} }`;
      // a VLAN tag hides the ether type the pins match, and the host takes VLAN id 0 as untagged
      lines.push(`    ${tap} ether type { 8021q, 8021ad } drop`, `    ${tap} ether type arp arp saddr ip != ${own} drop`, `    ${tap} ether type ip ip saddr != ${own} drop`);
      // a DHCP server's offer (to a client's port 68): a neighbour (on an admin's bridge, the LAN's machines) would take the guest as its gateway
      lines.push(`    ${tap} ether type ip udp dport 68 drop`);
      // an ARP probe (sender 0.0.0.0) only for its own address: a neighbour doing address conflict detection took a probed one as taken
      lines.push(`    ${tap} ether type arp arp saddr ip 0.0.0.0 arp daddr ip != ${p.ip} drop`);
      // other ether types would reach the admin's LAN unpinned; IPv6 there only with the LAN's prefix, pinned as on every host network
      if (g.lan && !g.prefix6) lines.push(`    ${tap} ether type != { ip, arp } drop`);
      else {
        if (g.lan) lines.push(`    ${tap} ether type != { ip, arp, ip6 } drop`);
        lines.push(...ipv6Pins(tap, p.mac, g.prefix6 ?? null));
      }
    }
    return lines;
  });
  // unicast (group bit clear) to any MAC but the NIC's never leaves by its port
  const toPort = g.ports.map((p) => `    oifname "${p.tap}" ether daddr != ${p.mac} ether daddr & 01:00:00:00:00:00 == 00:00:00:00:00:00 drop`);
  const out = [
    `table bridge ${table} {`,
    `  chain ports {`,
    `    type filter hook prerouting priority filter; policy accept;`,
    ...ports,
    `  }`,
    `  chain to_port {`,
    `    type filter hook forward priority filter; policy accept;`,
    ...toPort,
    `  }`,
    `  chain host_to_port {`,
    `    type filter hook output priority filter; policy accept;`,
    ...toPort,
    `  }`,
    `}`,
  ];
  if (g.isolated) {
    out.push(
      `table netdev ${table} {`,
      `  chain to_host {`,
      `    type filter hook ingress device "${bridge}" priority filter; policy drop;`,
      `  }`,
      `  chain from_host {`,
      `    type filter hook egress device "${bridge}" priority filter; policy drop;`,
      `  }`,
      `}`,
    );
  }
  return `${out.join("\n")}\n`;
}

/** Replaces both tables of a network in one transaction (`rules` empty: removes them). */
export function replaceSegmentTables(table: string, rules: string): string {
  check(TABLE, table, "table name");
  return `table bridge ${table}\ndelete table bridge ${table}\ntable netdev ${table}\ndelete table netdev ${table}\n${rules}`;
}
