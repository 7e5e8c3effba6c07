import { readFileSync } from "node:fs";
import { formatGroups } from "./address6.js";

/** A socket bound to a local port on this host (its network namespace), from /proc/net. */
export interface Listener {
  protocol: "tcp" | "udp";
  /** IPv4 dotted or IPv6 canonical text; "*" for a wildcard */
  address: string;
  port: number;
}

/** Kernel hex "0100007F" (little-endian IPv4) → "127.0.0.1". */
function v4(hex: string): string {
  const n = parseInt(hex, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join(".");
}

/** Kernel hex of an IPv6 address (four 32-bit words, each little-endian) → its canonical text ("::1"). */
function v6(hex: string): string {
  const bytes = hex.match(/.{8}/g)!.flatMap((w) => w.match(/../g)!.reverse());
  const groups = Array.from({ length: 8 }, (_, i) => parseInt(bytes[2 * i]! + bytes[2 * i + 1]!, 16));
  return formatGroups(groups);
}

/**
 * Parses one /proc/net/{tcp,udp}{,6} table: TCP sockets in LISTEN (0A), UDP
 * sockets bound to a port (any state). Pure, for the unit test.
 */
export function parseProcNet(text: string, protocol: "tcp" | "udp", ipv6: boolean): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    const [addr, portHex] = f[1]!.split(":");
    if (!addr || !portHex) continue;
    if (protocol === "tcp" && f[3] !== "0A") continue;
    const wildcard = /^0+$/.test(addr);
    // an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is that IPv4 address; another IPv6 address never takes IPv4
    const mapped = ipv6 && /^0{16}FFFF0000[0-9A-F]{8}$/i.test(addr) ? v4(addr.slice(24)) : null;
    out.push({ protocol, address: wildcard ? "*" : (mapped ?? (ipv6 ? v6(addr) : v4(addr))), port: parseInt(portHex, 16) });
  }
  return out;
}

/** Every listening TCP and bound UDP socket of the host's network namespace. */
export function hostListeners(): Listener[] {
  const out: Listener[] = [];
  for (const [file, protocol, ipv6] of [
    ["tcp", "tcp", false],
    ["tcp6", "tcp", true],
    ["udp", "udp", false],
    ["udp6", "udp", true],
  ] as const) {
    try {
      out.push(...parseProcNet(readFileSync(`/proc/net/${file}`, "utf8"), protocol, ipv6));
    } catch {
      // no IPv6 on this host
    }
  }
  return out;
}
