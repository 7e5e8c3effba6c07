/** IPv4 subnets, address allocation and the MAC that carries a NIC's address. Pure. */

export interface Subnet {
  base: number; // network address as an unsigned 32-bit number
  prefix: number;
}

export function ipToNumber(ip: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export function numberToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** "10.77.0.0/24" → subnet; the address must be the network address; /8 to /30. */
export function parseSubnet(cidr: string): Subnet | null {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
  if (!m) return null;
  const base = ipToNumber(m[1]!);
  const prefix = Number(m[2]);
  if (base === null || prefix < 8 || prefix > 30) return null;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  if ((base & mask) >>> 0 !== base) return null;
  return { base, prefix };
}

/** The first free host address (network and broadcast excluded), or null when the subnet is full. */
export function allocateIp(s: Subnet, taken: Set<string>): string | null {
  const size = 2 ** (32 - s.prefix);
  for (let i = 1; i < size - 1; i++) {
    const ip = numberToIp(s.base + i);
    if (!taken.has(ip)) return ip;
  }
  return null;
}

/** The subnet's first host address: the host side of a `host` network (its bridge). */
export function gatewayOf(s: Subnet): string {
  return numberToIp(s.base + 1);
}

/**
 * fe:<prefix>:<a>:<b>:<c>:<d>: locally administered, unicast, and the guest reads its address from it.
 * fa:… says the same and also "route everything through the subnet's first address" (a NATed host network).
 */
export function macFor(ip: string, prefix: number, defaultRoute = false): string {
  const n = ipToNumber(ip)!;
  return [defaultRoute ? "fa" : "fe", prefix, n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].map((x) => (typeof x === "number" ? x.toString(16).padStart(2, "0") : x)).join(":");
}

/** Do two IPv4 networks share an address? `cidr` may be an interface address ("192.0.2.2/24"). */
export function overlaps(s: Subnet, cidr: string): boolean {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
  const ip = m ? ipToNumber(m[1]!) : null;
  if (!m || ip === null) return false;
  const prefix = Math.min(s.prefix, Number(m[2]));
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (s.base & mask) >>> 0 === (ip & mask) >>> 0;
}
