import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { segmentRules } from "../../core/network/segment-guard.js";
import { sh } from "../harness/host-net.js";

/**
 * Review finding: the bridge guard drops router advertisements (and checks
 * neighbour advertisements' targets) by their ICMPv6 header. In a fragment
 * the kernel finds no ICMPv6 header (a non-first fragment has none; a first
 * fragment whose extension headers push it into the next fragment neither),
 * so a guest's RA split that way passed its port to every neighbour, and an
 * image that reassembles neighbour discovery (RFC 6980 says it must not;
 * Linux does not) took the guest as its router. The guard now drops
 * fragments that could be neighbour discovery (hop limit 255).
 *
 * Real frames through a real bridge carrying the guard's rules, all in
 * namespaces of the test's own (names are per namespace): "atk" sends from
 * its port, "vic" counts what arrives at its own.
 */
const NS = { br: "umldra-br", atk: "umldra-atk", vic: "umldra-vic" };
const ATK_MAC = "fe:18:0a:4d:00:02";
const VIC_MAC = "fe:18:0a:4d:00:03";

/** Python (a packet socket in the attacker's namespace): an echo request (hop limit 64), a plain RA, and an RA in two fragments whose first carries no ICMPv6 header. */
const SEND = `
import socket, struct
src = socket.inet_pton(socket.AF_INET6, "fe80::fc18:aff:fe4d:2")
dst = socket.inet_pton(socket.AF_INET6, "ff02::1")
eth = bytes.fromhex("333300000001") + bytes.fromhex("${ATK_MAC.replace(/:/g, "")}") + b"\\x86\\xdd"
def ip6(nh, plen, hlim): return struct.pack("!IHBB", 0x60000000, plen, nh, hlim) + src + dst
ra = bytes([134, 0, 0, 0, 64, 0, 0x07, 0x08]) + bytes(8)
echo = bytes([128, 0, 0, 0, 0, 1, 0, 1])
destopts = bytes([58, 1, 1, 12]) + bytes(12)
f1 = bytes([60, 0]) + struct.pack("!H", 1) + struct.pack("!I", 0x1234)
f2 = bytes([60, 0]) + struct.pack("!H", (16 // 8) << 3) + struct.pack("!I", 0x1234)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for p in [eth + ip6(58, len(echo), 64) + echo, eth + ip6(58, len(ra), 255) + ra, eth + ip6(44, len(f1) + len(destopts), 255) + f1 + destopts, eth + ip6(44, len(f2) + len(ra), 255) + f2 + ra]:
    s.send(p)
`;

function inNs(ns: string, cmd: string, args: string[], input?: string): string {
  return sh("ip", ["netns", "exec", ns, cmd, ...args], input);
}

describe("review: a guest's router advertisement split into fragments", { skip: existsSync("/usr/bin/python3") ? false : "needs python3", timeout: 60_000 }, () => {
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
    inNs(NS.br, "ip", ["link", "add", "umlbr-01234567", "type", "bridge"]);
    for (const [tap, ns, mac] of [
      ["umlt-aaaaaaaaaa", NS.atk, ATK_MAC],
      ["umlt-bbbbbbbbbb", NS.vic, VIC_MAC],
    ] as const) {
      inNs(NS.br, "ip", ["link", "add", tap, "type", "veth", "peer", "name", "eth0", "netns", ns]);
      inNs(NS.br, "ip", ["link", "set", tap, "master", "umlbr-01234567", "up"]);
      // no address of the namespace's own: its kernel's neighbour discovery (hop limit 255) would be counted as the attacker's
      inNs(ns, "sysctl", ["-q", "-w", "net.ipv6.conf.eth0.addr_gen_mode=1"]);
      inNs(ns, "ip", ["link", "set", "eth0", "address", mac, "up"]);
    }
    inNs(NS.br, "ip", ["link", "set", "umlbr-01234567", "up"]);
    const rules = segmentRules({
      table: "umld_0123456789abcdef",
      bridge: "umlbr-01234567",
      isolated: false,
      pinAddresses: true,
      prefix6: "fd42:1:2:3::/64",
      ports: [
        { tap: "umlt-aaaaaaaaaa", mac: ATK_MAC, ip: "10.77.0.2" },
        { tap: "umlt-bbbbbbbbbb", mac: VIC_MAC, ip: "10.77.0.3" },
      ],
    });
    inNs(NS.br, "nft", ["-f", "-"], rules);
    inNs(
      NS.vic,
      "nft",
      ["-f", "-"],
      `table netdev count {\n  chain in {\n    type filter hook ingress device "eth0" priority 0;\n    ether saddr ${ATK_MAC} ip6 hoplimit 64 counter\n    ether saddr ${ATK_MAC} ip6 hoplimit 255 counter\n  }\n}\n`,
    );
  });
  after(cleanup);

  it("reaches no neighbour, whole or in fragments, while the guest's ordinary IPv6 does", () => {
    inNs(NS.atk, "python3", ["-c", SEND]);
    const counted = inNs(NS.vic, "nft", ["list", "chain", "netdev", "count", "in"]);
    assert.match(counted, /hoplimit 64 counter packets 1 /, `the echo request arrived: ${counted}`);
    assert.match(counted, /hoplimit 255 counter packets 0 /, `no router advertisement, not even in fragments: ${counted}`);
  });
});
