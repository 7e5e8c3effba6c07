import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { slaacAddress } from "../../core/network/address6.js";
import { firewallRules, replaceTable } from "../../core/network/host-links.js";
import { sh } from "../harness/host-net.js";

/**
 * Review finding: a network's IPv6 prefix is a /64 the host routes into its
 * bridge. A packet to any address of it made the host solicit that address
 * and keep a neighbour entry for it, so anyone who reaches a routed
 * network's prefix from the uplink (or a guest sending through its gateway)
 * filled the host's neighbour table (shared by every interface) with a scan
 * of the /64: past gc_thresh3 the host resolves no IPv6 neighbour anywhere.
 * Guests send only from their pinned SLAAC addresses, so those are the only
 * ones the host forwards into the bridge now.
 *
 * In namespaces of the test's own: "host" carries the network's bridge and
 * its table (routed, with a prefix), "up" is the uplink, "g" a guest.
 */
const NS = { host: "umldnd-host", up: "umldnd-up", g: "umldnd-g" };
const BR = "umlbr-0abcdef1";
const PREFIX = "fd42:9:9:9::/64";
const G_MAC = "fe:18:0a:4e:00:02";
const G_ADDR = slaacAddress(PREFIX, G_MAC);
const SCAN = 200;

function inNs(ns: string, cmd: string, args: string[], input?: string): string {
  return sh("ip", ["netns", "exec", ns, cmd, ...args], input);
}

describe("review: a scan of a network's IPv6 prefix and the host's neighbour table", { skip: existsSync("/usr/bin/python3") ? false : "needs python3", timeout: 60_000 }, () => {
  const cleanup = () => {
    for (const ns of Object.values(NS)) {
      try {
        sh("ip", ["netns", "del", ns]);
      } catch {
        // not there
      }
    }
  };
  before(() => {
    cleanup();
    for (const ns of Object.values(NS)) sh("ip", ["netns", "add", ns]);
    inNs(NS.host, "sysctl", ["-q", "-w", "net.ipv6.conf.all.forwarding=1"]);
    inNs(NS.host, "ip", ["link", "add", BR, "type", "bridge"]);
    inNs(NS.host, "ip", ["link", "set", BR, "up"]);
    inNs(NS.host, "ip", ["addr", "add", "10.78.0.1/24", "dev", BR]);
    inNs(NS.host, "ip", ["-6", "addr", "add", "fd42:9:9:9::1/64", "dev", BR, "nodad"]);
    inNs(NS.host, "ip", ["link", "add", "umlt-0abcdef101", "type", "veth", "peer", "name", "eth0", "netns", NS.g]);
    inNs(NS.host, "ip", ["link", "set", "umlt-0abcdef101", "master", BR, "up"]);
    inNs(NS.g, "ip", ["link", "set", "eth0", "address", G_MAC, "up"]);
    inNs(NS.g, "ip", ["-6", "addr", "add", `${G_ADDR}/64`, "dev", "eth0", "nodad"]);
    inNs(NS.g, "ip", ["-6", "route", "add", "default", "via", "fd42:9:9:9::1"]);
    inNs(NS.host, "ip", ["link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", NS.up]);
    inNs(NS.host, "ip", ["link", "set", "up0", "up"]);
    inNs(NS.host, "ip", ["-6", "addr", "add", "fd42:8::1/64", "dev", "up0", "nodad"]);
    inNs(NS.up, "ip", ["link", "set", "eth0", "up"]);
    inNs(NS.up, "ip", ["-6", "addr", "add", "fd42:8::2/64", "dev", "eth0", "nodad"]);
    inNs(NS.up, "ip", ["-6", "route", "add", PREFIX, "via", "fd42:8::1"]);
    const table = "umld_0abcdef100000000";
    inNs(NS.host, "nft", ["-f", "-"], replaceTable(table, firewallRules({ table, bridge: BR, subnet: "10.78.0.0/24", nat: false, routed: true, prefix6: PREFIX, guestMacs: [G_MAC] })));
  });
  after(cleanup);

  it("the guest is reached from the uplink at its address", () => {
    inNs(NS.g, "nft", ["-f", "-"], `table netdev count {\n  chain in {\n    type filter hook ingress device "eth0" priority 0;\n    ip6 saddr fd42:8::2 udp dport 9 counter\n  }\n}\n`);
    inNs(NS.up, "python3", ["-c", `import socket\nsocket.socket(socket.AF_INET6, socket.SOCK_DGRAM).sendto(b"x", ("${G_ADDR}", 9))\n`]);
    for (let i = 0; i < 50 && !/packets 1 /.test(inNs(NS.g, "nft", ["list", "chain", "netdev", "count", "in"])); i++) sh("sleep", ["0.1"]);
    assert.match(inNs(NS.g, "nft", ["list", "chain", "netdev", "count", "in"]), /counter packets 1 /);
  });

  it("a scan of the prefix from the uplink leaves no neighbour entry for an address no guest has", () => {
    inNs(NS.up, "python3", ["-c", `import socket\ns = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\nfor i in range(${SCAN}):\n    s.sendto(b"x", ("fd42:9:9:9::%x" % (0x1000 + i), 9))\n`]);
    const entries = inNs(NS.host, "ip", ["-6", "neigh", "show", "dev", BR])
      .split("\n")
      .filter((l) => l.startsWith("fd42:9:9:9:") && !l.startsWith(`${G_ADDR} `));
    assert.equal(entries.length, 0, `the host keeps ${entries.length} entries for addresses nobody has: ${entries.slice(0, 3).join("; ")}`);
  });
});
