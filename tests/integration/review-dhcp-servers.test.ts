import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { segmentRules } from "../../core/network/segment-guard.js";
import { sh } from "../harness/host-net.js";

/**
 * Review finding: the bridge guard pins a guest's source addresses but let it
 * answer as a DHCP server (IPv4 to port 68, DHCPv6 to port 546) from its own
 * address. On an admin's bridge (mode bridged) the LAN's machines are DHCP
 * clients: a guest's offer gives them its own gateway and resolvers, taking
 * their traffic. The guard now drops what a port sends to a DHCP client.
 *
 * Real frames through a real bridge carrying the guard's rules (a bridged
 * network with the LAN's prefix), in namespaces of the test's own: "atk"
 * sends from its port, "vic" counts what arrives at its own.
 */
const NS = { br: "umlddh-br", atk: "umlddh-atk", vic: "umlddh-vic" };
const ATK_MAC = "fe:18:0a:4d:00:12";
const VIC_MAC = "fe:18:0a:4d:00:13";

/** Python (a packet socket in the attacker's namespace): from the port's own addresses, ordinary UDP and DHCP answers, IPv4 and IPv6. */
const SEND = `
import socket, struct
mac = bytes.fromhex("${ATK_MAC.replace(/:/g, "")}")
def udp(sp, dp, body): return struct.pack("!HHHH", sp, dp, 8 + len(body), 0) + body
def ip4(payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, 17, 0, socket.inet_aton("10.77.0.2"), socket.inet_aton("255.255.255.255"))
    s = sum(struct.unpack("!10H", h)); s = (s & 0xffff) + (s >> 16); s = (s & 0xffff) + (s >> 16)
    return h[:10] + struct.pack("!H", ~s & 0xffff) + h[12:] + payload
def ip6(payload):
    return struct.pack("!IHBB", 0x60000000, len(payload), 17, 64) + socket.inet_pton(socket.AF_INET6, "fe80::fc18:aff:fe4d:12") + socket.inet_pton(socket.AF_INET6, "ff02::1") + payload
eth4 = b"\\xff" * 6 + mac + b"\\x08\\x00"
eth6 = bytes.fromhex("333300000001") + mac + b"\\x86\\xdd"
offer = bytes([2, 1, 6, 0]) + bytes(232)
advertise = bytes([2, 0, 0, 1])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for p in [eth4 + ip4(udp(5000, 5001, b"x")), eth4 + ip4(udp(67, 68, offer)), eth6 + ip6(udp(5000, 5001, b"x")), eth6 + ip6(udp(547, 546, advertise))]:
    s.send(p)
`;

function inNs(ns: string, cmd: string, args: string[], input?: string): string {
  return sh("ip", ["netns", "exec", ns, cmd, ...args], input);
}

describe("review: a guest answering as a DHCP server on its network", { skip: existsSync("/usr/bin/python3") ? false : "needs python3", timeout: 60_000 }, () => {
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
    inNs(NS.br, "ip", ["link", "add", "lanbr0", "type", "bridge"]);
    for (const [tap, ns, mac] of [
      ["umlt-cccccccccc", NS.atk, ATK_MAC],
      ["umlt-dddddddddd", NS.vic, VIC_MAC],
    ] as const) {
      inNs(NS.br, "ip", ["link", "add", tap, "type", "veth", "peer", "name", "eth0", "netns", ns]);
      inNs(NS.br, "ip", ["link", "set", tap, "master", "lanbr0", "up"]);
      inNs(ns, "ip", ["link", "set", "eth0", "address", mac, "up"]);
    }
    inNs(NS.br, "ip", ["link", "set", "lanbr0", "up"]);
    const rules = segmentRules({
      table: "umld_0123456789abcdee",
      bridge: "lanbr0",
      isolated: false,
      pinAddresses: true,
      lan: true,
      prefix6: "fd42:1:2:3::/64",
      ports: [
        { tap: "umlt-cccccccccc", mac: ATK_MAC, ip: "10.77.0.2" },
        { tap: "umlt-dddddddddd", mac: VIC_MAC, ip: "10.77.0.3" },
      ],
    });
    inNs(NS.br, "nft", ["-f", "-"], rules);
    inNs(
      NS.vic,
      "nft",
      ["-f", "-"],
      `table netdev count {\n  chain in {\n    type filter hook ingress device "eth0" priority 0;\n` +
        `    ether saddr ${ATK_MAC} ip protocol udp udp dport 5001 counter\n    ether saddr ${ATK_MAC} ip protocol udp udp dport 68 counter\n` +
        `    ether saddr ${ATK_MAC} ip6 nexthdr udp udp dport 5001 counter\n    ether saddr ${ATK_MAC} ip6 nexthdr udp udp dport 546 counter\n  }\n}\n`,
    );
  });
  after(cleanup);

  it("reaches no neighbour's DHCP client, IPv4 or IPv6, while the guest's ordinary UDP does", () => {
    inNs(NS.atk, "python3", ["-c", SEND]);
    const counted = inNs(NS.vic, "nft", ["list", "chain", "netdev", "count", "in"]);
    assert.match(counted, /ip protocol udp udp dport 5001 counter packets 1 /, `ordinary IPv4 UDP arrived: ${counted}`);
    assert.match(counted, /ip6 nexthdr udp udp dport 5001 counter packets 1 /, `ordinary IPv6 UDP arrived: ${counted}`);
    assert.match(counted, /udp dport 68 counter packets 0 /, `no DHCPv4 offer: ${counted}`);
    assert.match(counted, /udp dport 546 counter packets 0 /, `no DHCPv6 advertise: ${counted}`);
  });
});
