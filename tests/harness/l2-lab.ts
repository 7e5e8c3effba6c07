import { sh } from "./host-net.js";

/**
 * A small L2 lab in network namespaces of the test's own (names are per
 * namespace, so nothing of the host's is touched): the review tests that
 * send real frames through a bridge carrying umld's guard rules.
 */

/** A command in one of the test's namespaces. */
export function inNs(ns: string, cmd: string, args: string[], input?: string): string {
  return sh("ip", ["netns", "exec", ns, cmd, ...args], input);
}

/** The test's namespaces: `make` removes any an earlier run left, then adds them; `remove` deletes them (and all in them). */
export function testNamespaces(names: readonly string[]): { make(): void; remove(): void } {
  const remove = () => {
    for (const ns of names) {
      try {
        sh("ip", ["netns", "del", ns]);
      } catch {
        // not there
      }
    }
  };
  return {
    make() {
      remove();
      for (const ns of names) sh("ip", ["netns", "add", ns]);
    },
    remove,
  };
}

export interface LabPort {
  /** the bridge's side, named like a guest's TAP so umld's rules apply */
  tap: string;
  /** where its other end (`eth0`) lives */
  ns: string;
  mac: string;
}

/**
 * A bridge in `brNs` with a veth per port, `eth0` at the far end with the
 * port's MAC, all up. `noAutoAddress`: the far ends make no IPv6 address of
 * their own (their kernel's neighbour discovery would be counted as a port's).
 */
export function bridgeWithPorts(brNs: string, bridge: string, ports: readonly LabPort[], o: { noAutoAddress?: boolean } = {}): void {
  inNs(brNs, "ip", ["link", "add", bridge, "type", "bridge"]);
  for (const p of ports) {
    inNs(brNs, "ip", ["link", "add", p.tap, "type", "veth", "peer", "name", "eth0", "netns", p.ns]);
    inNs(brNs, "ip", ["link", "set", p.tap, "master", bridge, "up"]);
    if (o.noAutoAddress) inNs(p.ns, "sysctl", ["-q", "-w", "net.ipv6.conf.eth0.addr_gen_mode=1"]);
    inNs(p.ns, "ip", ["link", "set", "eth0", "address", p.mac, "up"]);
  }
  inNs(brNs, "ip", ["link", "set", bridge, "up"]);
}
