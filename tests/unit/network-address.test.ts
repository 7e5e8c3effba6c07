import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { allocateIp, macFor, numberToIp, parseSubnet } from "../../core/network/address.js";

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
});
