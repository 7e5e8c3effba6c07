import { isIPv6 } from "node:net";

/** IPv6 prefixes of networks and the addresses guests give themselves from their MAC (SLAAC, EUI-64). Pure. */

/** "fd00:1::" → its eight 16-bit groups; null when not an IPv6 address (an embedded IPv4 tail is refused: never a prefix of ours). */
export function groupsOf(addr: string): number[] | null {
  if (!isIPv6(addr) || addr.includes(".") || addr.includes("%")) return null;
  const [head, tail] = addr.split("::") as [string, string | undefined];
  const part = (s: string | undefined) => (s ? s.split(":").map((g) => parseInt(g, 16)) : []);
  const h = part(head);
  const t = part(tail);
  const zeros = tail === undefined ? [] : Array<number>(8 - h.length - t.length).fill(0);
  const g = [...h, ...zeros, ...t];
  return g.length === 8 ? g : null;
}

/** Canonical text (RFC 5952: lowercase, the longest run of zero groups as ::). */
export function formatGroups(g: number[]): string {
  let best = -1;
  let len = 0;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > len && j - i > 1) [best, len] = [i, j - i];
    if (j > i) i = j - 1;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(":");
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + len))}`;
}

export type PrefixProblem = "syntax" | "length" | "host_bits" | "scope";

/**
 * A network's IPv6 prefix: a /64 (SLAAC needs one), the network address
 * itself, unique local (fc00::/7) or global unicast (2000::/3). Never
 * link-local, multicast, loopback, unspecified, v4-mapped or documentation-free
 * special space: guests would address themselves in a scope the host cannot
 * route or filter as a network of its own.
 */
export function parsePrefix6(cidr: string): { prefix: string; groups: number[] } | { problem: PrefixProblem } {
  const m = /^([0-9A-Fa-f:.]+)\/(\d{1,3})$/.exec(cidr);
  const g = m ? groupsOf(m[1]!) : null;
  if (!m || !g) return { problem: "syntax" };
  if (Number(m[2]) !== 64) return { problem: "length" };
  if (g.slice(4).some((x) => x !== 0)) return { problem: "host_bits" };
  const first = g[0]!;
  const ula = (first & 0xfe00) === 0xfc00;
  const global = (first & 0xe000) === 0x2000;
  if (!ula && !global) return { problem: "scope" };
  return { prefix: `${formatGroups(g)}/64`, groups: g };
}

/** The modified EUI-64 interface id of a MAC (the universal/local bit flipped, ff:fe in the middle). */
export function interfaceId(mac: string): number[] {
  const b = mac.split(":").map((x) => parseInt(x, 16));
  if (b.length !== 6 || b.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`not a MAC: '${mac}'`);
  return [((b[0]! ^ 2) << 8) | b[1]!, (b[2]! << 8) | 0xff, 0xfe00 | b[3]!, (b[4]! << 8) | b[5]!];
}

/** The address a guest's kernel gives itself on the prefix (SLAAC with EUI-64, Linux's default). */
export function slaacAddress(prefix: string, mac: string): string {
  const g = groupsOf(prefix.split("/")[0]!)!;
  return formatGroups([...g.slice(0, 4), ...interfaceId(mac)]);
}

/** A NIC's address on its network's prefix (null: an IPv4-only network). */
export function nicAddress6(prefix: string | null | undefined, mac: string): string | null {
  return prefix ? slaacAddress(prefix, mac) : null;
}

/** The NIC's link-local address (fe80::/64 and its interface id): its ND and router solicitations come from it. */
export function linkLocalAddress(mac: string): string {
  return slaacAddress("fe80::/64", mac);
}

/** The prefix's first address: the host's on the network's bridge. */
export function gateway6(prefix: string): string {
  const g = groupsOf(prefix.split("/")[0]!)!;
  return formatGroups([...g.slice(0, 7), 1]);
}

/** Do two /64 prefixes name the same network? */
export function samePrefix6(a: string, b: string): boolean {
  const x = groupsOf(a.split("/")[0]!);
  const y = groupsOf(b.split("/")[0]!);
  return !!x && !!y && x.slice(0, 4).every((v, i) => v === y[i]);
}

/** Does a /64 share addresses with `cidr` (a host interface's "fd00::2/64")? */
export function overlaps6(prefix: string, cidr: string): boolean {
  const [a, len] = cidr.split("/");
  const x = groupsOf(prefix.split("/")[0]!);
  const y = groupsOf(a ?? "");
  if (!x || !y) return false;
  const bits = Math.min(64, Number(len ?? 128));
  for (let i = 0; i < 8 && i * 16 < bits; i++) {
    const keep = Math.min(16, bits - i * 16);
    const mask = (0xffff << (16 - keep)) & 0xffff;
    if ((x[i]! & mask) !== (y[i]! & mask)) return false;
  }
  return true;
}
