import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "pino";
import { gatewayOf, parseSubnet } from "./address.js";
import { parsePrefix6 } from "./address6.js";

/**
 * The host side of `switch` and `host` networks: a Linux bridge per network
 * (a host network's with the network's first address, a switch network's
 * with none), one persistent TAP per NIC enslaved to it, and for host
 * networks one nftables table per network (isolation from other networks,
 * masquerade when NATed). Everything here is idempotent: `ensure*` is safe to
 * call at every start (re-adoption after a daemon restart), `remove*` on what
 * is already gone.
 *
 * Names are derived from umld's random ids, so two umld state dirs on one
 * host never touch each other's interfaces.
 */
export const BRIDGE_PREFIX = "umlbr-";
export const TAP_PREFIX = "umlt-";
/** the IFB device a shaped NIC's incoming traffic (what its guest sends) is queued on */
export const IFB_PREFIX = "umlq-";
export const TABLE_PREFIX = "umld_";

export function bridgeName(networkId: string): string {
  return BRIDGE_PREFIX + networkId.slice(0, 8); // 14 chars: IFNAMSIZ is 16 with the NUL
}

export function tapName(nicId: string): string {
  return TAP_PREFIX + nicId.slice(0, 10);
}

export function ifbName(nicId: string): string {
  return IFB_PREFIX + nicId.slice(0, 10);
}

export function tableName(networkId: string): string {
  return TABLE_PREFIX + networkId;
}

/** An admin's bridge (bridged networks): a name the kernel accepts and no command or nft syntax hides in. */
export const ADMIN_BRIDGE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

/** A bridge TAPs may join: one of ours, or an admin's (checked to be a bridge when the network was made). */
export function safeBridge(name: string): string {
  if (!/^umlbr-[0-9a-f]{8}$/.test(name) && !ADMIN_BRIDGE.test(name)) throw new Error(`refusing bridge name '${name}'`);
  return name;
}

/** A name we made ourselves, checked again before it reaches a command line. */
export function safeIf(name: string): string {
  if (!/^uml(br|t|q)-[0-9a-f]{8,10}$/.test(name)) throw new Error(`refusing interface name '${name}'`);
  return name;
}

export function run(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"], timeout: 10_000 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")}: ${(err.stderr || err.message).trim()}`);
  }
}

/** A port forward as its rules need it (forwards.ts keeps them). */
export interface ForwardRule {
  protocol: "tcp" | "udp";
  /** null: every address of the host */
  listenAddress: string | null;
  listenPort: number;
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
    if (!IPV4.test(r.ip) || (r.listenAddress !== null && !IPV4.test(r.listenAddress))) throw new Error(`refusing forward address`);
    const to = r.listenAddress === null ? "fib daddr type local" : `ip daddr ${r.listenAddress}`;
    // never from a guest network (a guest reaches its neighbours directly, other networks not at all)
    nat.push(`    iifname != "${BRIDGE_PREFIX}*" ${to} ${r.protocol} dport ${port(r.listenPort)} dnat ip to ${r.ip}:${port(r.targetPort)}`);
    accept.push(`    oifname "${f.bridge}" ip daddr ${r.ip} ${r.protocol} dport ${port(r.targetPort)} ct status dnat accept`);
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
        ...(v6 ? [`    oifname "${f.bridge}" ip6 daddr ${p6} ct state established,related accept`] : []),
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
    `    ${br} ct state established,related accept`,
    `    ${br} icmp type echo-request accept`,
    `    ${br} icmpv6 type { echo-request, nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept`,
    ...(f.dns ? [`    ${br} ip daddr ${gatewayOf(parseSubnet(f.subnet)!)} meta l4proto { tcp, udp } th dport 53 accept`] : []),
    `    ${br} drop`,
    `  }`,
    `  chain forward {`,
    `    type filter hook forward priority filter; policy accept;`,
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
 * pass); what the host routes or bridges for the LAN is the admin's.
 */
function bridgedRules(f: FirewallSpec): string {
  const bridge = safeBridge(f.bridge);
  const macs = (f.guestMacs ?? []).map((m) => {
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(m)) throw new Error(`refusing MAC '${m}'`);
    return m;
  });
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
  lines.push(`  }`, `}`);
  return `${lines.join("\n")}\n`;
}

/** Replaces the table, and the `ip` table of the same name older versions made, in one transaction. */
export function replaceTable(table: string, rules: string): string {
  return `table ip ${table}\ndelete table ip ${table}\ntable inet ${table}\ndelete table inet ${table}\n${rules}`;
}

export class HostLinks {
  constructor(
    /** STATE/net/ip_forward.umld: present when umld turned IPv4 forwarding on and should turn it off again. */
    private readonly forwardMarker: string,
    private readonly log: Logger,
  ) {}

  /** STATE/net: where the networks' own files (dnsmasq pid files) live */
  get stateDir(): string {
    return dirname(this.forwardMarker);
  }

  exists(ifname: string): boolean {
    return existsSync(`/sys/class/net/${safeIf(ifname)}`);
  }

  /**
   * The bridge, up: a host network's with its gateway address on it, a switch
   * network's (`gatewayCidr` null) with no address and IPv6 off, so the host
   * takes no part in the segment (its guard table drops what would reach it).
   */
  ensureBridge(bridge: string, gatewayCidr: string | null): void {
    safeIf(bridge);
    if (!this.exists(bridge)) {
      run("ip", ["link", "add", bridge, "type", "bridge"]);
      this.log.info({ bridge }, "bridge created");
    }
    this.pinAddress(bridge);
    if (gatewayCidr === null) {
      noIpv6(bridge);
    } else {
      const addrs = run("ip", ["-o", "-4", "addr", "show", "dev", bridge]);
      if (!addrs.includes(` ${gatewayCidr} `)) run("ip", ["addr", "add", gatewayCidr, "dev", bridge]);
    }
    run("ip", ["link", "set", bridge, "up"]);
  }

  /**
   * A bridge whose MAC was never set takes its lowest port's, and a guest can
   * change its TAP's MAC (a TUN ioctl on its own descriptor): pinned, the
   * bridge (a host network's gateway) keeps the address it has.
   */
  pinAddress(bridge: string): void {
    safeBridge(bridge);
    const read = (f: string) => readFileSync(`/sys/class/net/${bridge}/${f}`, "utf8").trim();
    if (read("addr_assign_type") !== "3") run("ip", ["link", "set", bridge, "address", read("address")]); // 3: NET_ADDR_SET
  }

  removeLink(ifname: string): void {
    if (!this.exists(ifname)) return;
    run("ip", ["link", "del", safeIf(ifname)]);
    this.log.info({ ifname }, "host interface removed");
  }

  /**
   * A persistent TAP enslaved to the bridge, owned by `uid` so the guest's
   * unprivileged UML process can open it. `reown`: a TAP of another owner, or
   * with a group, is deleted and made again (only when no guest has it open).
   * True when the TAP is new (its shaping, if any, is to be applied again).
   */
  ensureTap(tap: string, bridge: string, uid: number, reown = false): boolean {
    safeIf(tap);
    safeBridge(bridge);
    if (uid !== 0) this.tunOpenable();
    // a guest can give its TAP to another uid or to a group (TUN ioctls on its own descriptor): made again
    if (reown && this.exists(tap) && (this.tapOwner(tap) !== uid || this.tapGroup(tap) !== null)) this.removeLink(tap);
    let made = false;
    if (!this.exists(tap)) {
      run("ip", ["tuntap", "add", "dev", tap, "mode", "tap", ...(uid !== 0 ? ["user", String(uid)] : [])]);
      noIpv6(tap); // a bridge port: the host has nothing to say on it
      this.log.info({ tap, bridge }, "TAP created");
      made = true;
    } else if (this.inBridgeAndUp(tap, bridge)) {
      return false; // every boot and reboot asks: read /sys, run nothing
    }
    run("ip", ["link", "set", tap, "master", bridge]);
    run("ip", ["link", "set", tap, "up"]);
    return made;
  }

  private inBridgeAndUp(ifname: string, bridge: string): boolean {
    try {
      const master = readlinkSync(`/sys/class/net/${ifname}/master`).split("/").pop();
      const flags = parseInt(readFileSync(`/sys/class/net/${ifname}/flags`, "utf8"), 16);
      return master === bridge && (flags & 1) === 1; // IFF_UP
    } catch {
      return false;
    }
  }

  /**
   * An unprivileged UML opens /dev/net/tun itself to attach to its TAP (the
   * kernel then checks the TAP's owner). Debian makes the node 0666; some
   * hosts (containers) have 0600, which keeps every non-root guest off its TAP.
   */
  private tunOpenable(): void {
    const st = statSync("/dev/net/tun");
    if ((st.mode & 0o006) === 0o006) return;
    chmodSync("/dev/net/tun", 0o666);
    this.log.warn("/dev/net/tun was not usable by unprivileged guests; made it 0666 (the Debian default)");
  }

  /** The TAP's owner uid (0 when none is set: only root may open it). */
  tapOwner(tap: string): number {
    try {
      const v = Number(readFileSync(`/sys/class/net/${safeIf(tap)}/owner`, "utf8").trim());
      return Math.max(v, 0);
    } catch {
      return 0;
    }
  }

  /** The TAP's group, which may open it too (null: none, as umld makes them). */
  tapGroup(tap: string): number | null {
    try {
      const v = Number(readFileSync(`/sys/class/net/${safeIf(tap)}/group`, "utf8").trim());
      return v < 0 ? null : v;
    } catch {
      return null;
    }
  }

  ensureFirewall(f: FirewallSpec): void {
    // `add` then `delete` makes the replacement work whether or not the table exists
    run("nft", ["-f", "-"], replaceTable(f.table, firewallRules(f)));
    if (f.nat || f.routed) this.enableForwarding();
  }

  removeFirewall(table: string): void {
    if (!/^umld_[0-9a-f]{16}$/.test(table)) throw new Error(`refusing table name '${table}'`);
    run("nft", ["-f", "-"], replaceTable(table, ""));
  }

  /** IPv4 addresses on the host's interfaces, as "addr/prefix". */
  hostAddresses(): Array<{ ifname: string; cidr: string }> {
    return run("ip", ["-o", "-4", "addr", "show"])
      .split("\n")
      .map((l) => /^\d+:\s+(\S+)\s+inet\s+(\S+)/.exec(l))
      .filter((m): m is RegExpExecArray => !!m)
      .map((m) => ({ ifname: m[1]!, cidr: m[2]! }));
  }

  /** NAT needs IPv4 forwarding. umld notes when it turned it on, to turn it off after its last NAT network. */
  private enableForwarding(): void {
    const path = "/proc/sys/net/ipv4/ip_forward";
    if (readFileSync(path, "utf8").trim() === "1") return;
    writeFileSync(path, "1\n");
    writeFileSync(this.forwardMarker, "umld turned net.ipv4.ip_forward on\n");
    this.log.warn("net.ipv4.ip_forward turned on for a NAT network");
  }

  /** Called when no NAT network is left. */
  releaseForwarding(): void {
    if (!existsSync(this.forwardMarker)) return;
    writeFileSync("/proc/sys/net/ipv4/ip_forward", "0\n");
    rmSync(this.forwardMarker, { force: true });
    this.log.info("net.ipv4.ip_forward turned off again (umld had turned it on)");
  }
}

/** IPv6 off on an interface of ours (absent when the host has no IPv6 at all). */
function noIpv6(ifname: string): void {
  const knob = `/proc/sys/net/ipv6/conf/${safeIf(ifname)}/disable_ipv6`;
  if (existsSync(knob) && readFileSync(knob, "utf8").trim() !== "1") writeFileSync(knob, "1\n");
}
