import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { run, safeIf } from "./host-links.js";

/**
 * The host side of a network's IPv6 prefix: the prefix's first address on
 * the network's bridge (the guests' router, where dnsmasq advertises the
 * prefix), and IPv6 forwarding while a routed or NATed network has a prefix.
 */

function sysctl(path: string, value: string): void {
  if (existsSync(path) && readFileSync(path, "utf8").trim() !== value) writeFileSync(path, `${value}\n`);
}

/** IPv6 on the bridge with `cidr6` (no duplicate address detection: the address is the host's by definition); the host never learns a route from a guest's advertisement. */
export function ensureBridge6(bridge: string, cidr6: string): void {
  safeIf(bridge);
  sysctl(`/proc/sys/net/ipv6/conf/${bridge}/disable_ipv6`, "0");
  sysctl(`/proc/sys/net/ipv6/conf/${bridge}/accept_ra`, "0");
  if (!run("ip", ["-o", "-6", "addr", "show", "dev", bridge]).includes(` ${cidr6} `)) run("ip", ["-6", "addr", "add", cidr6, "dev", bridge, "nodad"]);
}

const marker = (dir: string) => join(dir, "ipv6_forward.umld");
const KNOB = "/proc/sys/net/ipv6/conf/all/forwarding";

/** Routed and NATed prefixes need IPv6 forwarding; umld notes when it turned it on, to turn it off after its last such network. */
export function enableForwarding6(stateDir: string, log: Logger): void {
  if (!existsSync(KNOB) || readFileSync(KNOB, "utf8").trim() === "1") return;
  writeFileSync(KNOB, "1\n");
  writeFileSync(marker(stateDir), "umld turned net.ipv6.conf.all.forwarding on\n");
  log.warn("net.ipv6.conf.all.forwarding turned on for a network with an IPv6 prefix (interfaces with accept_ra=1 stop taking router advertisements)");
}

export function releaseForwarding6(stateDir: string, log: Logger): void {
  if (!existsSync(marker(stateDir))) return;
  writeFileSync(KNOB, "0\n");
  rmSync(marker(stateDir), { force: true });
  log.info("net.ipv6.conf.all.forwarding turned off again (umld had turned it on)");
}

/** The /64 prefixes of the host's global IPv6 addresses: a network's prefix must not be one (it would break the host's routing). */
export function hostPrefixes6(): Array<{ ifname: string; cidr: string }> {
  return run("ip", ["-o", "-6", "addr", "show", "scope", "global"])
    .split("\n")
    .map((l) => /^\d+:\s+(\S+)\s+inet6\s+(\S+)/.exec(l))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => ({ ifname: m[1]!, cidr: m[2]! }));
}
