import { gatewayOf, parseSubnet } from "./address.js";
import { gateway6, groupsOf, parsePrefix6, slaacAddress } from "./address6.js";
import { BRIDGE_PREFIX, safeBridge } from "./link-names.js";

/** A port forward as its rules need it (forwards.ts keeps them). */
export interface ForwardRule {
  protocol: "tcp" | "udp";
  /** null: every IPv4 address of the host; "::" every IPv6 one */
  listenAddress: string | null;
  listenPort: number;
  /** the guest's address, of the listen address's family */
  ip: string;
  targetPort: number;
}

export interface FirewallSpec {
  table: string;
  bridge: string;
  subnet: string;
  nat: boolean;
  /** the subnet is routed to this host: forwarded both ways, no NAT */
  routed?: boolean;
  /** on an admin's bridge: only the guests' own frames (by their pinned MACs) are kept from the host */
  bridged?: boolean;
  /** the NICs' MACs: on a bridged network, theirs are the frames kept from the host; with a prefix, their SLAAC addresses are the only ones routed in */
  guestMacs?: string[];
  /** a dnsmasq on the gateway answers the guests' names: port 53 there is open to them */
  dns?: boolean;
  /** the network's IPv6 /64: forwarded (and NATed) as the mode says */
  prefix6?: string | null;
  /** NATed networks: host ports DNATed to guests (forwards.ts) */
  forwards?: ForwardRule[];
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const port = (p: number) => {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`refusing port ${p}`);
  return p;
};

/** A forward's DNAT and the forward-chain accept of what it lets in, checked again before it reaches nft. */
function forwardLines(f: FirewallSpec): { nat: string[]; accept: string[] } {
  const nat: string[] = [];
  const accept: string[] = [];
  for (const r of f.forwards ?? []) {
    if (r.protocol !== "tcp" && r.protocol !== "udp") throw new Error(`refusing protocol '${String(r.protocol)}'`);
    const v6 = r.listenAddress?.includes(":") === true;
    const ok = v6 ? !!groupsOf(r.ip) && !!groupsOf(r.listenAddress!) : IPV4.test(r.ip) && (r.listenAddress === null || IPV4.test(r.listenAddress));
    if (!ok) throw new Error(`refusing forward address`);
    const to = v6
      ? r.listenAddress === "::"
        ? "meta nfproto ipv6 fib daddr type local"
        : `ip6 daddr ${r.listenAddress}`
      : r.listenAddress === null
        ? "fib daddr type local"
        : `ip daddr ${r.listenAddress}`;
    const target = v6 ? `ip6 to [${r.ip}]:${port(r.targetPort)}` : `ip to ${r.ip}:${port(r.targetPort)}`;
    // never from a guest network (a guest reaches its neighbours directly, other networks not at all)
    nat.push(`    iifname != "${BRIDGE_PREFIX}*" ${to} ${r.protocol} dport ${port(r.listenPort)} dnat ${target}`);
    accept.push(`    oifname "${f.bridge}" ${v6 ? "ip6" : "ip"} daddr ${r.ip} ${r.protocol} dport ${port(r.targetPort)} ct status dnat accept`);
  }
  return { nat, accept };
}

/** Link-local and cloud metadata (169.254.169.254, fd00:ec2::254): a guest is never forwarded there. */
const NO_FORWARD_V4 = "169.254.0.0/16";
const NO_FORWARD_V6 = "fe80::/10, fd00:ec2::254";

function checkedPrefix6(p: string): string {
  const r = parsePrefix6(p);
  if ("problem" in r) throw new Error(`refusing IPv6 prefix '${p}'`);
  return r.prefix;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
function checkedMacs(macs: string[] | undefined): string[] {
  return (macs ?? []).map((m) => {
    if (!MAC.test(m)) throw new Error(`refusing MAC '${m}'`);
    return m;
  });
}

/**
 * Into the bridge, only the guests' own addresses of the prefix (each sends from its SLAAC address only): any other
 * made the host solicit it and keep a neighbour entry, so a scan of the /64 filled the host's neighbour table.
 */
function knownOnly6(bridge: string, p6: string, macs: string[]): string {
  const known = [...new Set(macs.map((m) => slaacAddress(p6, m)))];
  return known.length ? `    oifname "${bridge}" ip6 daddr ${p6} ip6 daddr != { ${known.join(", ")} } drop` : `    oifname "${bridge}" ip6 daddr ${p6} drop`;
}

/**
 * The nftables ruleset of one host network: one `inet` table (IPv4 and IPv6),
 * replaced atomically by `nft -f`. To the host, from the bridge: replies, ping
 * and neighbour discovery only. Forwarded: nothing on a local network; with
 * NAT, IPv4 from the subnet to anything but another umld bridge or
 * link-local/metadata (and in, only replies and port forwards); routed, the
 * same out and anything in to the subnet but from another umld bridge.
 * IPv6 (a network with a prefix) the same way, NATed (NAT66) on a NATed
 * network; without a prefix, or on a local network, IPv6 is never forwarded.
 */
export function firewallRules(f: FirewallSpec): string {
  if (f.bridged) return bridgedRules(f);
  const br = `iifname "${f.bridge}"`;
  const forwards = f.nat ? forwardLines(f) : { nat: [], accept: [] };
  const p6 = f.prefix6 ? checkedPrefix6(f.prefix6) : null;
  const v6 = p6 !== null && (f.nat || f.routed);
  const out6 = v6 ? [`    ${br} ip6 daddr { ${NO_FORWARD_V6} } drop`, `    ${br} ip6 saddr ${p6} accept`] : [];
  const fwd = f.nat
    ? [
        ...forwards.accept,
        `    ${br} oifname "${BRIDGE_PREFIX}*" drop`,
        `    ${br} ip daddr ${NO_FORWARD_V4} drop`,
        `    ${br} ip saddr ${f.subnet} accept`,
        ...out6,
        `    ${br} drop`,
        // a forward's connections pass only by its own accept above: once it is removed, so are they (conntrack keeps them otherwise)
        `    oifname "${f.bridge}" ip daddr ${f.subnet} ct state established,related ct status & dnat == 0 accept`,
        ...(v6 ? [`    oifname "${f.bridge}" ip6 daddr ${p6} ct state established,related ct status & dnat == 0 accept`] : []),
        `    oifname "${f.bridge}" drop`,
      ]
    : f.routed
      ? [
          `    ${br} oifname "${BRIDGE_PREFIX}*" drop`,
          `    ${br} ip daddr ${NO_FORWARD_V4} drop`,
          `    ${br} ip saddr ${f.subnet} accept`,
          ...out6,
          `    ${br} drop`,
          `    oifname "${f.bridge}" iifname "${BRIDGE_PREFIX}*" drop`,
          `    oifname "${f.bridge}" ip daddr ${f.subnet} accept`,
          ...(v6 ? [`    oifname "${f.bridge}" ip6 daddr ${p6} accept`] : []),
          `    oifname "${f.bridge}" drop`,
        ]
      : [`    ${br} drop`, `    oifname "${f.bridge}" drop`];
  const lines = [
    `table inet ${f.table} {`,
    `  chain input {`,
    `    type filter hook input priority filter; policy accept;`,
    // the gateway's DNS and DHCP ports are its guests' only: never from the uplink or another network
    `    iifname != "${f.bridge}" ip daddr ${gatewayOf(parseSubnet(f.subnet)!)} meta l4proto { tcp, udp } th dport { 53, 67, 547 } drop`,
    ...(p6 ? [`    iifname != "${f.bridge}" ip6 daddr ${gateway6(p6)} meta l4proto { tcp, udp } th dport { 53, 67, 547 } drop`] : []),
    `    ${br} ct state established,related accept`,
    `    ${br} icmp type echo-request accept`,
    `    ${br} icmpv6 type { echo-request, nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept`,
    ...(f.dns ? [`    ${br} ip daddr ${gatewayOf(parseSubnet(f.subnet)!)} meta l4proto { tcp, udp } th dport 53 accept`] : []),
    `    ${br} drop`,
    `  }`,
    `  chain forward {`,
    `    type filter hook forward priority filter; policy accept;`,
    ...(p6 ? [knownOnly6(f.bridge, p6, checkedMacs(f.guestMacs))] : []),
    // guest to guest on the same bridge: seen here too when br_netfilter is loaded (Docker loads it)
    `    ${br} oifname "${f.bridge}" accept`,
    ...(v6 ? [] : [`    ${br} meta nfproto ipv6 drop`, `    oifname "${f.bridge}" meta nfproto ipv6 drop`]),
    ...fwd,
    `  }`,
  ];
  if (f.nat) {
    lines.push(
      `  chain postrouting {`,
      `    type nat hook postrouting priority srcnat; policy accept;`,
      `    ip saddr ${f.subnet} oifname != "${f.bridge}" masquerade`,
      ...(v6 ? [`    ip6 saddr ${p6} oifname != "${f.bridge}" masquerade`] : []),
      `  }`,
    );
    if (forwards.nat.length) lines.push(`  chain prerouting {`, `    type nat hook prerouting priority dstnat; policy accept;`, ...forwards.nat, `  }`);
  }
  lines.push(`}`);
  return `${lines.join("\n")}\n`;
}

/**
 * A bridged network's table: the bridge is the admin's LAN, so only frames
 * from the guests' MACs (each pinned to its port by the bridge guard) are
 * kept from the host's own services (replies, ping and neighbour discovery
 * pass), and the host routes nothing of theirs (they use the LAN's router);
 * what the host routes or bridges for the LAN is the admin's.
 */
function bridgedRules(f: FirewallSpec): string {
  const bridge = safeBridge(f.bridge);
  const macs = checkedMacs(f.guestMacs);
  const from = `iifname "${bridge}" ether saddr { ${macs.join(", ")} }`;
  const lines = [`table inet ${f.table} {`, `  chain input {`, `    type filter hook input priority filter; policy accept;`];
  if (macs.length) {
    lines.push(
      `    ${from} ct state established,related accept`,
      `    ${from} icmp type echo-request accept`,
      `    ${from} icmpv6 type { echo-request, nd-neighbor-solicit, nd-neighbor-advert } accept`,
      `    ${from} drop`,
    );
  }
  lines.push(`  }`);
  if (macs.length) {
    // the host is no router for them, whatever it forwards for others (a routed or NATed network turns forwarding on):
    // their source MACs are pinned at their ports, so no destination they choose gets a frame of theirs routed
    lines.push(`  chain forward {`, `    type filter hook forward priority filter; policy accept;`, `    ${from} oifname != "${bridge}" drop`, `  }`);
  }
  lines.push(`}`);
  return `${lines.join("\n")}\n`;
}

/** Replaces the table, and the `ip` table of the same name older versions made, in one transaction. */
export function replaceTable(table: string, rules: string): string {
  return `table ip ${table}\ndelete table ip ${table}\ntable inet ${table}\ndelete table inet ${table}\n${rules}`;
}
