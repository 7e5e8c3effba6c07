import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { Limits, PatchInstanceRequest } from "../../protocol/instances.js";
import { deviceSpec, guestNames, umlDevice } from "../../core/network/nic-devices.js";
import { burstBytes, shapingBatch } from "../../core/network/nic-shaping.js";
import { replaceSegmentTables, segmentRules, type SegmentGuardSpec } from "../../core/network/segment-guard.js";
import { chain, nftCheckSkip } from "../harness/host-net.js";

const slirp = { binary: "/usr/bin/slirp-fullbolt", args: ["control_addr_255.255.255.255"] };
const table = "umld_0123456789abcdef";
const guard = (g: Partial<SegmentGuardSpec>): SegmentGuardSpec => ({
  table,
  bridge: "umlbr-01234567",
  isolated: false,
  pinAddresses: false,
  ports: [{ tap: "umlt-0a1b2c3d4e", mac: "fe:18:0a:4d:00:02", ip: "10.77.0.2" }],
  ...g,
});

describe("NIC devices: UML's vector driver for switch and host NICs, slirp for user NICs", () => {
  it("a switch or host NIC is a vector device on its TAP, with offloads (gro=1); slot ethN is unit N", () => {
    const nic = { slot: "eth3", mac: "fe:18:0a:4d:00:02", tap: "umlt-0a1b2c3d4e" };
    for (const kind of ["switch", "host"] as const) {
      assert.equal(deviceSpec(kind, nic, slirp), "vec3:transport=tap,ifname=umlt-0a1b2c3d4e,mac=fe:18:0a:4d:00:02,gro=1");
      assert.equal(umlDevice(kind, "eth3"), "vec3", "what mconsole `remove` takes");
      assert.deepEqual(guestNames(kind, "eth15"), ["vec15", "eth15"], "the kernel's name, then the slot the image renames it to");
    }
    assert.equal(deviceSpec("user", { ...nic, tap: null }, slirp), "eth3=slirp,,/usr/bin/slirp-fullbolt,control_addr_255.255.255.255");
    assert.equal(umlDevice("user", "eth3"), "eth3");
    assert.deepEqual(guestNames("user", "eth0"), ["eth0"]);
  });

  it("refuses anything that could split or extend a UML option", () => {
    const nic = { slot: "eth0", mac: "fe:18:0a:4d:00:02", tap: "umlt-0a1b2c3d4e" };
    assert.throws(() => deviceSpec("switch", { ...nic, tap: null }, slirp), /no TAP/);
    assert.throws(() => deviceSpec("switch", { ...nic, tap: "umlt-0a1b2c3d4e,script=/bin/sh" }, slirp), /no TAP/);
    assert.throws(() => deviceSpec("host", { ...nic, mac: "fe:18:0a:4d:00:02,ifname=eth0" }, slirp), /not a MAC/);
    assert.throws(() => umlDevice("host", "eth16"), /not a NIC slot/);
    assert.throws(() => umlDevice("host", "vec1"), /not a NIC slot/);
  });
});

describe("segment guard: a bridge's layer-2 rules", () => {
  it("pins every port to its NIC's MAC; on a host network also to its address (or 0.0.0.0) for IPv4 and ARP", () => {
    assert.deepEqual(chain(segmentRules(guard({})), "ports"), ["type filter hook prerouting priority filter; policy accept;", `iifname "umlt-0a1b2c3d4e" ether saddr != fe:18:0a:4d:00:02 drop`]);
    assert.deepEqual(chain(segmentRules(guard({ pinAddresses: true })), "ports").slice(1), [
      `iifname "umlt-0a1b2c3d4e" ether saddr != fe:18:0a:4d:00:02 drop`,
      `iifname "umlt-0a1b2c3d4e" ether type { 8021q, 8021ad } drop`,
      `iifname "umlt-0a1b2c3d4e" ether type arp arp saddr ip != { 0.0.0.0, 10.77.0.2 } drop`,
      `iifname "umlt-0a1b2c3d4e" ether type ip ip saddr != { 0.0.0.0, 10.77.0.2 } drop`,
      // no DHCP server's offer to a neighbour's client
      `iifname "umlt-0a1b2c3d4e" ether type ip udp dport 68 drop`,
      // an ARP probe only for its own address
      `iifname "umlt-0a1b2c3d4e" ether type arp arp saddr ip 0.0.0.0 arp daddr ip != 10.77.0.2 drop`,
      // IPv6 only from its link-local address (EUI-64 of the MAC) or :: (DAD); no router advertisement; neighbour advertisements only for its own
      `iifname "umlt-0a1b2c3d4e" ether type ip6 ip6 saddr != { ::, fe80::fc18:aff:fe4d:2 } drop`,
      `iifname "umlt-0a1b2c3d4e" ether type ip6 ip6 saddr :: meta l4proto != ipv6-icmp drop`,
      `iifname "umlt-0a1b2c3d4e" ether type ip6 ip6 saddr :: icmpv6 type != { nd-neighbor-solicit, nd-router-solicit, mld-listener-report, mld2-listener-report } drop`,
      `iifname "umlt-0a1b2c3d4e" ether type ip6 ip6 saddr :: icmpv6 type nd-neighbor-solicit @th,64,128 != { 0xfe80000000000000fc180afffe4d0002 } drop`,
      `iifname "umlt-0a1b2c3d4e" ether type ip6 ip6 hoplimit 255 exthdr frag exists drop`,
      `iifname "umlt-0a1b2c3d4e" icmpv6 type { nd-router-advert, nd-redirect } drop`,
      `iifname "umlt-0a1b2c3d4e" ether type ip6 udp dport 546 drop`,
      `iifname "umlt-0a1b2c3d4e" icmpv6 type nd-neighbor-advert @th,64,128 != { 0xfe80000000000000fc180afffe4d0002 } drop`,
    ]);
    // with the network's prefix, its SLAAC address there is its own too
    assert.deepEqual(chain(segmentRules(guard({ pinAddresses: true, prefix6: "fd42:1:2:3::/64" })), "ports").slice(7), [
      `iifname "umlt-0a1b2c3d4e" ether type ip6 ip6 saddr != { ::, fe80::fc18:aff:fe4d:2, fd42:1:2:3:fc18:aff:fe4d:2 } drop`,
      `iifname "umlt-0a1b2c3d4e" ether type ip6 ip6 saddr :: meta l4proto != ipv6-icmp drop`,
      `iifname "umlt-0a1b2c3d4e" ether type ip6 ip6 saddr :: icmpv6 type != { nd-neighbor-solicit, nd-router-solicit, mld-listener-report, mld2-listener-report } drop`,
      `iifname "umlt-0a1b2c3d4e" ether type ip6 ip6 saddr :: icmpv6 type nd-neighbor-solicit @th,64,128 != { 0xfe80000000000000fc180afffe4d0002, 0xfd42000100020003fc180afffe4d0002 } drop`,
      `iifname "umlt-0a1b2c3d4e" ether type ip6 ip6 hoplimit 255 exthdr frag exists drop`,
      `iifname "umlt-0a1b2c3d4e" icmpv6 type { nd-router-advert, nd-redirect } drop`,
      `iifname "umlt-0a1b2c3d4e" ether type ip6 udp dport 546 drop`,
      `iifname "umlt-0a1b2c3d4e" icmpv6 type nd-neighbor-advert @th,64,128 != { 0xfe80000000000000fc180afffe4d0002, 0xfd42000100020003fc180afffe4d0002 } drop`,
    ]);
    // on an admin's bridge (the LAN) nothing but the pinned IPv4 and ARP leaves a port: no IPv6 from any source, no RA
    assert.deepEqual(chain(segmentRules(guard({ pinAddresses: true, lan: true })), "ports").at(-1), `iifname "umlt-0a1b2c3d4e" ether type != { ip, arp } drop`);
    // with the LAN's IPv6 prefix: IPv6 too, pinned to the port's link-local and SLAAC addresses, never a router advertisement
    const lan6 = chain(segmentRules(guard({ pinAddresses: true, lan: true, prefix6: "fd42:1:2:3::/64" })), "ports");
    assert.ok(lan6.includes(`iifname "umlt-0a1b2c3d4e" ether type != { ip, arp, ip6 } drop`));
    assert.ok(lan6.includes(`iifname "umlt-0a1b2c3d4e" ether type ip6 ip6 saddr != { ::, fe80::fc18:aff:fe4d:2, fd42:1:2:3:fc18:aff:fe4d:2 } drop`));
    assert.ok(lan6.includes(`iifname "umlt-0a1b2c3d4e" icmpv6 type { nd-router-advert, nd-redirect } drop`));
    assert.ok(lan6.includes(`iifname "umlt-0a1b2c3d4e" ether type ip6 udp dport 546 drop`), "no DHCPv6 server's answer to the LAN's clients");
    assert.doesNotMatch(segmentRules(guard({ pinAddresses: true })), /ether type != /, "other host networks filter IPv6 at layer 3 (the host routes them)");
    // a port gets unicast only to its NIC's MAC, bridged (forward) or from the host (output): a guest that sets its TAP's MAC to a neighbour's gets none of its frames
    const toPort = `oifname "umlt-0a1b2c3d4e" ether daddr != fe:18:0a:4d:00:02 ether daddr & 01:00:00:00:00:00 == 00:00:00:00:00:00 drop`;
    assert.deepEqual(chain(segmentRules(guard({})), "to_port"), ["type filter hook forward priority filter; policy accept;", toPort]);
    assert.deepEqual(chain(segmentRules(guard({})), "host_to_port"), ["type filter hook output priority filter; policy accept;", toPort]);
    assert.doesNotMatch(segmentRules(guard({})), /netdev/, "a host network's bridge is the host's gateway: its inet table decides");
  });

  it("closes a switch network's bridge to the host both ways, on the bridge device itself, with or without ports", () => {
    const r = segmentRules(guard({ isolated: true, ports: [] }));
    assert.deepEqual(chain(r, "to_host"), [`type filter hook ingress device "umlbr-01234567" priority filter; policy drop;`]);
    assert.deepEqual(chain(r, "from_host"), [`type filter hook egress device "umlbr-01234567" priority filter; policy drop;`]);
  });

  it("replaces both families' tables in one transaction, and refuses names that are not umld's", () => {
    assert.equal(replaceSegmentTables(table, ""), `table bridge ${table}\ndelete table bridge ${table}\ntable netdev ${table}\ndelete table netdev ${table}\n`);
    assert.throws(() => segmentRules(guard({ table: "umld_x; flush ruleset" })), /refusing table name/);
    assert.throws(() => segmentRules(guard({ bridge: "eth0", isolated: true })), /refusing interface name/);
    // a host network may be on an admin's bridge (mode bridged): any interface name, but only a name
    assert.throws(() => segmentRules(guard({ bridge: 'br0" accept', isolated: false })), /refusing interface name/);
    assert.throws(() => segmentRules(guard({ ports: [{ tap: "umlt-0a1b2c3d4e", mac: "fe:18:0a:4d:00:02 accept", ip: "10.0.0.1" }] })), /refusing MAC/);
    assert.throws(() => segmentRules(guard({ pinAddresses: true, ports: [{ tap: "umlt-0a1b2c3d4e", mac: "fe:18:0a:4d:00:02", ip: "10.0.0.1 }" }] })), /refusing address/);
  });

  it("writes rulesets nft accepts (checked by the kernel, nothing applied)", { skip: nftCheckSkip() }, () => {
    for (const g of [guard({}), guard({ isolated: true }), guard({ pinAddresses: true }), guard({ pinAddresses: true, prefix6: "fd42:1:2:3::/64" }), guard({ isolated: true, ports: [] })]) {
      execFileSync("nft", ["-c", "-f", "-"], { input: replaceSegmentTables(table, segmentRules(g)), stdio: ["pipe", "pipe", "pipe"] });
    }
  });
});

describe("NIC shaping and limits.netMbit", () => {
  it("shapes both directions with a token bucket: the TAP's root, and the IFB its ingress is redirected to", () => {
    assert.deepEqual(shapingBatch("umlt-0a1b2c3d4e", "umlq-0a1b2c3d4e", 50).split("\n"), [
      "qdisc replace dev umlq-0a1b2c3d4e root tbf rate 50mbit burst 65536 limit 378036",
      "qdisc replace dev umlt-0a1b2c3d4e root tbf rate 50mbit burst 65536 limit 378036",
      "qdisc replace dev umlt-0a1b2c3d4e handle ffff: ingress",
      "filter replace dev umlt-0a1b2c3d4e parent ffff: prio 1 protocol all u32 match u32 0 0 action mirred egress redirect dev umlq-0a1b2c3d4e",
      "",
    ]);
    assert.equal(burstBytes(50), 65536, "at least one 64 KiB GSO frame");
    assert.equal(burstBytes(10_000), 12_500_000, "10 ms at high rates");
    assert.throws(() => shapingBatch("umlt-0a1b2c3d4e", "umlq-0a1b2c3d4e", 0), /not a rate/);
    assert.throws(() => shapingBatch("eth0", "umlq-0a1b2c3d4e", 50), /refusing interface name/);
  });

  it("limits is an object of optional fields; netMbit an integer 1-100000 or null", () => {
    assert.deepEqual(Limits.parse({}), {});
    assert.deepEqual(Limits.parse({ netMbit: null }), { netMbit: null });
    assert.deepEqual(Limits.parse({ netMbit: 100_000 }), { netMbit: 100_000 });
    for (const bad of [{ netMbit: 0 }, { netMbit: 100_001 }, { netMbit: 2.5 }, { netMbit: "5" }, { memory: 1 }, null, 5]) {
      assert.equal(Limits.safeParse(bad).success, false, JSON.stringify(bad));
    }
    assert.equal(PatchInstanceRequest.safeParse({ limits: { netMbit: 5 } }).success, true);
  });
});
