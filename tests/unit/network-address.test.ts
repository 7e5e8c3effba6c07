import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { allocateIp, gatewayOf, macFor, numberToIp, overlaps, parseSubnet } from "../../core/network/address.js";
import { bridgeName, firewallRules, tapName } from "../../core/network/host-links.js";

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

  it("isolates a network without NAT, and lets a NATed one out with replies back", () => {
    const plain = firewallRules({ table: "umld_x", bridge: "umlbr-1", subnet: "10.1.0.0/24", nat: false });
    assert.match(plain, /iifname "umlbr-1" oifname "umlbr-1" accept\n\s+iifname "umlbr-1" drop\n\s+oifname "umlbr-1" drop/);
    assert.doesNotMatch(plain, /masquerade|postrouting/);
    const nat = firewallRules({ table: "umld_x", bridge: "umlbr-1", subnet: "10.1.0.0/24", nat: true });
    assert.match(nat, /iifname "umlbr-1" oifname "umlbr-\*" drop/, "never into another umld network");
    assert.match(nat, /ct state established,related accept/);
    assert.match(nat, /ip saddr 10\.1\.0\.0\/24 oifname != "umlbr-1" masquerade/);
  });
});
