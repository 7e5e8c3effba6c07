import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { segmentRules } from "../../core/network/segment-guard.js";
import { sh } from "../harness/host-net.js";

/**
 * Review finding: a port may send from the unspecified address (`::`, IPv4
 * 0.0.0.0) for duplicate address detection, but the address it probes was
 * not pinned. A guest's DAD solicitation for a neighbour's address (or an
 * ARP probe for it) makes that neighbour, while its address is tentative (a
 * boot, a new address), take it as a duplicate and never use it; on an
 * admin's bridge, any machine of the LAN. The guard now lets a port probe
 * only its own addresses.
 *
 * Real frames through a real bridge carrying the guard's rules, in
 * namespaces of the test's own: "atk" sends from its port, "vic" counts what
 * arrives at its own. Then "vic" adds an address with DAD while "atk" sends
 * what it can: the address stays usable.
 */
const NS = { br: "umldad-br", atk: "umldad-atk", vic: "umldad-vic" };
const ATK_MAC = "fe:18:0a:4d:00:22";
const VIC_MAC = "fe:18:0a:4d:00:23";
const PREFIX = "fd42:1:2:4::/64";
const VIC_SLAAC = "fd42:1:2:4:fc18:aff:fe4d:23";

/** Python (a packet socket in the attacker's namespace): DAD solicitations and ARP probes for its own address (kept apart by destination) and the neighbour's. */
const SEND = (rounds: number) => `
import socket, struct, time
mac = bytes.fromhex("${ATK_MAC.replace(/:/g, "")}")
def ns(target):
    t = socket.inet_pton(socket.AF_INET6, target)
    dst = socket.inet_pton(socket.AF_INET6, "ff02::1:ff00:0")[:13] + t[13:]
    body = bytes([135, 0, 0, 0]) + bytes(4) + t
    pseudo = bytes(16) + dst + struct.pack("!IxxxB", len(body), 58) + body
    c = sum(struct.unpack("!%dH" % (len(pseudo) // 2), pseudo)); c = (c & 0xffff) + (c >> 16); c = (c & 0xffff) + (c >> 16)
    body = body[:2] + struct.pack("!H", ~c & 0xffff) + body[4:]
    eth = bytes.fromhex("3333") + dst[12:] + mac + b"\\x86\\xdd"
    return eth + struct.pack("!IHBB", 0x60000000, len(body), 58, 255) + bytes(16) + dst + body
def probe(target):
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + socket.inet_aton("0.0.0.0") + bytes(6) + socket.inet_aton(target)
    return b"\\xff" * 6 + mac + b"\\x08\\x06" + arp
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for i in range(${rounds}):
    for p in [ns("fe80::fc18:aff:fe4d:22"), probe("10.77.0.2"), ns("fe80::fc18:aff:fe4d:23"), ns("${VIC_SLAAC}"), probe("10.77.0.3")]:
        s.send(p)
    if ${rounds} > 1: time.sleep(0.01)
`;

function inNs(ns: string, cmd: string, args: string[], input?: string): string {
  return sh("ip", ["netns", "exec", ns, cmd, ...args], input);
}

describe("review: a guest's duplicate address detection for its neighbours' addresses", { skip: existsSync("/usr/bin/python3") ? false : "needs python3", timeout: 60_000 }, () => {
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
    inNs(NS.br, "ip", ["link", "add", "umlbr-01234568", "type", "bridge"]);
    for (const [tap, ns, mac] of [
      ["umlt-eeeeeeeeee", NS.atk, ATK_MAC],
      ["umlt-ffffffffff", NS.vic, VIC_MAC],
    ] as const) {
      inNs(NS.br, "ip", ["link", "add", tap, "type", "veth", "peer", "name", "eth0", "netns", ns]);
      inNs(NS.br, "ip", ["link", "set", tap, "master", "umlbr-01234568", "up"]);
      // the test adds the victim's addresses itself (with DAD), once the guard is there
      inNs(ns, "sysctl", ["-q", "-w", "net.ipv6.conf.eth0.addr_gen_mode=1"]);
      inNs(ns, "ip", ["link", "set", "eth0", "address", mac, "up"]);
    }
    inNs(NS.br, "ip", ["link", "set", "umlbr-01234568", "up"]);
    const rules = segmentRules({
      table: "umld_0123456789abcded",
      bridge: "umlbr-01234568",
      isolated: false,
      pinAddresses: true,
      prefix6: PREFIX,
      ports: [
        { tap: "umlt-eeeeeeeeee", mac: ATK_MAC, ip: "10.77.0.2" },
        { tap: "umlt-ffffffffff", mac: VIC_MAC, ip: "10.77.0.3" },
      ],
    });
    inNs(NS.br, "nft", ["-f", "-"], rules);
    inNs(
      NS.vic,
      "nft",
      ["-f", "-"],
      `table netdev count {\n  chain in {\n    type filter hook ingress device "eth0" priority 0;\n` +
        `    ether saddr ${ATK_MAC} ip6 daddr ff02::1:ff4d:22 counter\n    ether saddr ${ATK_MAC} ip6 daddr ff02::1:ff4d:23 counter\n` +
        `    ether saddr ${ATK_MAC} arp daddr ip 10.77.0.2 counter\n    ether saddr ${ATK_MAC} arp daddr ip 10.77.0.3 counter\n  }\n}\n`,
    );
  });
  after(cleanup);

  it("probes only its own addresses: its neighbour's get no DAD solicitation or ARP probe", () => {
    inNs(NS.atk, "python3", ["-c", SEND(1)]);
    const counted = inNs(NS.vic, "nft", ["list", "chain", "netdev", "count", "in"]);
    assert.match(counted, /ff02::1:ff4d:22 counter packets 1 /, `its own DAD passed: ${counted}`);
    assert.match(counted, /arp daddr ip 10.77.0.2 counter packets 1 /, `its own ARP probe passed: ${counted}`);
    assert.match(counted, /ff02::1:ff4d:23 counter packets 0 /, `no DAD for the neighbour's addresses: ${counted}`);
    assert.match(counted, /arp daddr ip 10.77.0.3 counter packets 0 /, `no ARP probe for the neighbour's address: ${counted}`);
  });

  it("the neighbour's new address passes its duplicate address detection while the guest sends its probes", () => {
    inNs(NS.vic, "ip", ["-6", "addr", "add", `${VIC_SLAAC}/64`, "dev", "eth0"]);
    inNs(NS.atk, "python3", ["-c", SEND(300)]);
    const addr = inNs(NS.vic, "ip", ["-6", "addr", "show", "dev", "eth0"]);
    assert.match(addr, new RegExp(`${VIC_SLAAC}/64`), addr);
    assert.doesNotMatch(addr, /dadfailed/, `the guest's probes took the neighbour's address: ${addr}`);
  });
});
