import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Logger } from "pino";
import { BRIDGE_PREFIX } from "./host-links.js";

/**
 * What a guest's host processes may send, keyed on the socket owner's uid
 * (`meta skuid`): a guest's UML process and its helpers (slirp for `user`
 * NICs) run as the guest's uid in the host's network namespace, so this holds
 * for slirp's NAT and for a guest that escaped UML alike.
 *
 * Refused for every guest uid: link-local and cloud metadata addresses, the
 * guests of umld's host networks (out through a `umlbr-` bridge), and
 * every address of the host itself (`fib daddr type local`: 127.0.0.0/8, ::1,
 * each interface address; slirp's 10.0.2.2 is the host's 127.0.0.1) unless the
 * uid is in `host_ok` (a guest with a NIC on a user network with hostAccess).
 * A guest with no NIC on a user network (`egress_ok`) sends nothing over IP
 * at all: its UML needs none (switch NICs are unix sockets, TAPs descriptors),
 * so only a guest that escaped UML would try. Allowed to `egress_ok`: port 53
 * of the resolvers in /etc/resolv.conf, where slirp forwards the guests' DNS
 * (10.0.2.3), also when that is 127.0.0.53.
 *
 * One `inet` table per state dir, named after it, replaced atomically; it
 * outlives the daemon like the guests it filters, and only ever refuses
 * packets of guest uids.
 */
export const GUEST_TABLE_PREFIX = "umld_guests_";

/** Link-local and cloud metadata: never a guest's business (AWS's IPv6 IMDS is fd00:ec2::254). */
export const METADATA_V4 = ["169.254.0.0/16"];
export const METADATA_V6 = ["fe80::/10", "fd00:ec2::254"];

/** A block of host uids handed out to guests (first .. first+count-1). */
export interface UidRange {
  first: number;
  count: number;
}

export interface GuestFilterSpec {
  table: string;
  /** uids that are guests: a range and single uids (root is never one: it would filter the daemon) */
  range: UidRange | null;
  uids: Iterable<number>;
  /** guest uids that may reach the host's own addresses */
  hostOk: Iterable<number>;
  /** guest uids that may send over IP at all (a NIC on a user network: slirp's NAT) */
  egressOk: Iterable<number>;
  /** IPv4 resolvers slirp forwards DNS to: port 53 stays open for every guest */
  resolvers: string[];
  /** networks' own processes (a dnsmasq's uid, in the range): they send out of their network's bridge only */
  services?: Array<{ uid: number; bridge: string }>;
}

/** The table of one state dir: two state dirs on a host never replace each other's. */
export function guestTableName(stateDir: string): string {
  return GUEST_TABLE_PREFIX + createHash("sha256").update(resolve(stateDir)).digest("hex").slice(0, 12);
}

function uid(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xfffffffe) throw new Error(`not a uid: ${n}`);
  return n;
}

/** Sorted, deduplicated, root and (for the guests set) uids inside the range dropped: nft refuses overlapping intervals. */
function uidElements(range: UidRange | null, uids: Iterable<number>): string[] {
  const last = range ? range.first + range.count - 1 : -1;
  const single = [...new Set([...uids].map(uid))].filter((u) => u !== 0 && !(range && u >= range.first && u <= last)).sort((a, b) => a - b);
  const out = single.map(String);
  if (range && range.count > 0) out.push(range.count === 1 ? String(uid(range.first)) : `${uid(range.first)}-${uid(last)}`);
  return out;
}

function set(name: string, interval: boolean, elements: string[]): string[] {
  return [`  set ${name} {`, `    type uid;${interval ? " flags interval;" : ""}`, ...(elements.length ? [`    elements = { ${elements.join(", ")} }`] : []), `  }`];
}

/** The nftables ruleset of the guest filter: one table, replaced atomically by `nft -f`. */
export function guestFilterRules(s: GuestFilterSpec): string {
  if (!/^umld_guests_[0-9a-f]{12}$/.test(s.table)) throw new Error(`refusing table name '${s.table}'`);
  const resolvers = [...new Set(s.resolvers)].filter((r) => /^\d{1,3}(\.\d{1,3}){3}$/.test(r));
  const services = (s.services ?? []).map((x) => {
    if (!/^umlbr-[0-9a-f]{8}$/.test(x.bridge)) throw new Error(`refusing bridge '${x.bridge}'`);
    return `    meta skuid ${uid(x.uid)} oifname "${x.bridge}" accept`;
  });
  const lines = [
    `table inet ${s.table} {`,
    ...set("guests", true, uidElements(s.range, s.uids)),
    ...set("host_ok", false, uidElements(null, s.hostOk)),
    ...set("egress_ok", false, uidElements(null, s.egressOk)),
    `  chain output {`,
    `    type filter hook output priority filter; policy accept;`,
    // everything else on the host passes through untouched
    `    meta skuid @guests jump guest`,
    `  }`,
    `  chain guest {`,
    ...services,
    `    meta skuid != @egress_ok jump refuse`,
    ...(resolvers.length ? [`    ip daddr { ${resolvers.join(", ")} } meta l4proto { tcp, udp } th dport 53 accept`] : []),
    `    ip daddr { ${METADATA_V4.join(", ")} } jump refuse`,
    `    ip6 daddr { ${METADATA_V6.join(", ")} } jump refuse`,
    // umld's networks' guests (NATed ones are reached only through forwards): never straight from a guest's host process
    `    oifname "${BRIDGE_PREFIX}*" jump refuse`,
    `    meta skuid @host_ok accept`,
    `    fib daddr type local jump refuse`,
    `  }`,
    // a reset or an ICMP error: the guest's connection fails at once instead of hanging
    `  chain refuse {`,
    `    meta l4proto tcp reject with tcp reset`,
    `    reject with icmpx admin-prohibited`,
    `  }`,
    `}`,
  ];
  return `${lines.join("\n")}\n`;
}

/** IPv4 nameservers of a resolv.conf (slirp speaks IPv4 only and uses these). */
export function resolversOf(text: string): string[] {
  return text
    .split("\n")
    .map((l) => /^\s*nameserver\s+(\d{1,3}(?:\.\d{1,3}){3})\s*$/.exec(l)?.[1])
    .filter((a): a is string => !!a);
}

export interface GuestFilterOptions {
  stateDir: string;
  /** the configured block of guest uids, if any */
  range: UidRange | null;
  log: Logger;
  resolvConf?: string;
}

export class GuestFilter {
  readonly table: string;
  private applied: string | null = null;
  private warnedRoot = false;

  constructor(private readonly o: GuestFilterOptions) {
    this.table = guestTableName(o.stateDir);
  }

  /**
   * Idempotent: makes the table say exactly this. nft runs only when the
   * ruleset changed (every guest start asks), so an unchanged state costs a
   * string comparison.
   */
  update(guests: Iterable<number>, hostOk: Iterable<number>, egressOk: Iterable<number>, services: Array<{ uid: number; bridge: string }> = []): void {
    const g = [...guests];
    if (g.includes(0) && !this.warnedRoot) {
      this.warnedRoot = true;
      this.o.log.warn("guests running as root cannot be filtered: they reach the host's own services");
    }
    const text = guestFilterRules({ table: this.table, range: this.o.range, uids: g, hostOk, egressOk, resolvers: this.resolvers(), services });
    if (text === this.applied) return;
    // `add` then `delete`: the replacement works whether or not the table exists, in one transaction
    nft(`table inet ${this.table}\ndelete table inet ${this.table}\n${text}`);
    this.applied = text;
    this.o.log.debug({ table: this.table }, "guest filter updated");
  }

  private resolvers(): string[] {
    try {
      return resolversOf(readFileSync(this.o.resolvConf ?? "/etc/resolv.conf", "utf8"));
    } catch {
      return [];
    }
  }
}

function nft(input: string): void {
  try {
    execFileSync("nft", ["-f", "-"], { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"], timeout: 10_000 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`nft: ${(err.stderr || err.message).trim()}`);
  }
}
