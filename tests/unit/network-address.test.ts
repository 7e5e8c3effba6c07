import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { allocateIp, gatewayOf, macFor, numberToIp, overlaps, parseSubnet } from "../../core/network/address.js";
import { bridgeName, firewallRules, replaceTable, tapName } from "../../core/network/host-links.js";
import { chain, nftCheckSkip } from "../harness/host-net.js";

describe("network addresses", () => {
  it("parses subnets given as their network address, /8 to /30", () => {
    assert.deepEqual(parseSubnet("10.77.0.0/24"), { base: 0x0a4d0000, prefix: 24 });
    for (const bad of ["10.77.0.1/24", "10.77.0.0/31", "10.0.0.0/7", "300.1.1.0/24", "10.77.0.0", "10.77.0.0/x"]) assert.equal(parseSubnet(bad), null, bad);
  });

  it("allocates the first free host address, never the network or broadcast address", () => {
    const s = parseSubnet("192.168.5.0/30")!;
    assert.equal(allocateIp(s, new Set()), "192.168.5.1");
    assert.equal(allocateIp(s, new Set(["192.168.5.1"])), "192.168.5.2");
    assert.equal(allocateIp(s, new Set(["192.168.5.1", "192.168.5.2"])), null, "a /30 has two hosts");
    assert.equal(numberToIp(0xffffffff), "255.255.255.255");
  });

  it("puts the address in a locally administered unicast MAC the guest can read", () => {
    const mac = macFor("10.77.0.2", 24);
    assert.equal(mac, "fe:18:0a:4d:00:02");
    const first = parseInt(mac.slice(0, 2), 16);
    assert.equal(first & 0b10, 0b10, "locally administered");
    assert.equal(first & 0b1, 0, "unicast");
  });

  it("marks a NATed host network's MACs with fa: (default route through the first address), still local unicast", () => {
    const mac = macFor("10.232.0.7", 24, true);
    assert.equal(mac, "fa:18:0a:e8:00:07");
    const first = parseInt(mac.slice(0, 2), 16);
    assert.deepEqual([first & 0b10, first & 0b1], [0b10, 0]);
    assert.equal(gatewayOf(parseSubnet("10.232.0.32/28")!), "10.232.0.33");
  });

  it("finds overlapping networks, including interface addresses", () => {
    const s = parseSubnet("10.231.0.0/24")!;
    assert.equal(overlaps(s, "10.231.0.1/24"), true);
    assert.equal(overlaps(s, "10.0.0.0/8"), true, "a wider network around it");
    assert.equal(overlaps(parseSubnet("10.0.0.0/8")!, "10.231.0.9/24"), true, "a narrower one inside it");
    assert.equal(overlaps(s, "10.232.0.1/24"), false);
    assert.equal(overlaps(s, "192.0.2.2/24"), false);
    assert.equal(overlaps(s, "garbage"), false);
  });
});

describe("host network pieces", () => {
  it("names fit IFNAMSIZ and come from ids only", () => {
    assert.equal(bridgeName("0123456789abcdef"), "umlbr-01234567");
    assert.equal(tapName("0123456789abcdef"), "umlt-0123456789");
    assert.ok(bridgeName("0123456789abcdef").length <= 15 && tapName("0123456789abcdef").length <= 15);
  });

  it("isolates a network without NAT: to the host only replies, ping and neighbour discovery; nothing forwarded", () => {
    const plain = firewallRules({ table: "umld_x", bridge: "umlbr-1", subnet: "10.1.0.0/24", nat: false });
    assert.match(plain, /^table inet umld_x \{/, "IPv4 and IPv6 in one table");
    assert.deepEqual(chain(plain, "input"), [
      "type filter hook input priority filter; policy accept;",
      'iifname != "umlbr-1" ip daddr 10.1.0.1 meta l4proto { tcp, udp } th dport { 53, 67, 547 } drop',
      'iifname "umlbr-1" ct state established,related accept',
      'iifname "umlbr-1" icmp type echo-request accept',
      'iifname "umlbr-1" icmpv6 type { echo-request, nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept',
      'iifname "umlbr-1" drop',
    ]);
    assert.deepEqual(chain(plain, "forward"), [
      "type filter hook forward priority filter; policy accept;",
      'iifname "umlbr-1" oifname "umlbr-1" accept',
      'iifname "umlbr-1" meta nfproto ipv6 drop',
      'oifname "umlbr-1" meta nfproto ipv6 drop',
      'iifname "umlbr-1" drop',
      'oifname "umlbr-1" drop',
    ]);
    assert.doesNotMatch(plain, /masquerade|postrouting/);
  });

  it("lets a NATed network out over IPv4 only, never to another umld bridge or link-local/metadata, with replies back", () => {
    const nat = firewallRules({ table: "umld_x", bridge: "umlbr-1", subnet: "10.1.0.0/24", nat: true });
    assert.deepEqual(chain(nat, "input"), chain(firewallRules({ table: "umld_x", bridge: "umlbr-1", subnet: "10.1.0.0/24", nat: false }), "input"), "the host is closed either way");
    assert.deepEqual(chain(nat, "forward"), [
      "type filter hook forward priority filter; policy accept;",
      'iifname "umlbr-1" oifname "umlbr-1" accept',
      'iifname "umlbr-1" meta nfproto ipv6 drop',
      'oifname "umlbr-1" meta nfproto ipv6 drop',
      'iifname "umlbr-1" oifname "umlbr-*" drop',
      'iifname "umlbr-1" ip daddr 169.254.0.0/16 drop',
      'iifname "umlbr-1" ip saddr 10.1.0.0/24 accept',
      'iifname "umlbr-1" drop',
      'oifname "umlbr-1" ip daddr 10.1.0.0/24 ct state established,related ct status & dnat == 0 accept',
      'oifname "umlbr-1" drop',
    ]);
    assert.deepEqual(chain(nat, "postrouting"), ["type nat hook postrouting priority srcnat; policy accept;", 'ip saddr 10.1.0.0/24 oifname != "umlbr-1" masquerade']);
  });

  it("replaces a table of either family in one transaction: an older version's `ip` table goes with it", () => {
    const t = replaceTable("umld_x", "table inet umld_x {\n}\n");
    assert.equal(t, "table ip umld_x\ndelete table ip umld_x\ntable inet umld_x\ndelete table inet umld_x\ntable inet umld_x {\n}\n");
  });

  it("writes rulesets nft accepts (checked by the kernel, nothing applied)", { skip: nftCheckSkip() }, () => {
    for (const nat of [false, true]) {
      const table = "umld_0123456789abcdef";
      execFileSync("nft", ["-c", "-f", "-"], { input: replaceTable(table, firewallRules({ table, bridge: "umlbr-01234567", subnet: "10.1.0.0/24", nat })), stdio: ["pipe", "pipe", "pipe"] });
    }
  });
});
