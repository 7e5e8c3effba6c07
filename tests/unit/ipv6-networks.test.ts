import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { gateway6, linkLocalAddress, overlaps6, parsePrefix6, slaacAddress } from "../../core/network/address6.js";
import { dnsmasqArgs, dnsRoles, ROLE_CAPS } from "../../core/network/dns.js";
import { firewallRules } from "../../core/network/host-links.js";
import { chain, nftCheckSkip } from "../harness/host-net.js";

describe("IPv6 prefixes and SLAAC addresses", () => {
  it("takes a unique local or global /64 given as its network address, in canonical form", () => {
    assert.deepEqual(parsePrefix6("FD42:0001:2:3::/64"), { prefix: "fd42:1:2:3::/64", groups: [0xfd42, 1, 2, 3, 0, 0, 0, 0] });
    assert.equal((parsePrefix6("2001:db8:0:7::/64") as { prefix: string }).prefix, "2001:db8:0:7::/64");
    const why = (p: string) => (parsePrefix6(p) as { problem?: string }).problem;
    for (const p of ["fe80::/64", "ff02::/64", "::/64", "4000::/64", "100::/64"]) assert.equal(why(p), "scope", p);
    assert.equal(why("::1/64"), "host_bits");
    assert.equal(why("fd42:1:2:3::1/64"), "host_bits");
    assert.equal(why("fd42:1:2::/48"), "length");
    assert.equal(why("::ffff:10.0.0.0/64"), "syntax", "v4-mapped (an embedded IPv4 tail) is never a prefix");
    for (const p of ["fd42::", "fd42:::/64", "fd42::/64/1", "fd42::%eth0/64", "x/64", ""]) assert.equal(why(p), "syntax", p);
  });

  it("gives a NIC the EUI-64 address its kernel makes from its MAC, and the host the prefix's first", () => {
    // the universal/local bit flipped (fe → fc), ff:fe in the middle: what Linux's SLAAC does
    assert.equal(slaacAddress("fd42:1:2:3::/64", "fa:18:0a:f7:00:02"), "fd42:1:2:3:f818:aff:fef7:2");
    assert.equal(linkLocalAddress("fe:18:0a:4d:00:02"), "fe80::fc18:aff:fe4d:2");
    assert.equal(gateway6("fd42:1:2:3::/64"), "fd42:1:2:3::1");
    assert.throws(() => slaacAddress("fd42::/64", "fe:18"), /not a MAC/);
  });

  it("finds a host address inside a prefix, or a host prefix around it", () => {
    assert.ok(overlaps6("fd00::/64", "fd00::2/64"));
    assert.ok(overlaps6("fd00:0:0:5::/64", "fd00::1/48"));
    assert.ok(!overlaps6("fd00:0:0:5::/64", "fd00::2/64"));
  });
});

const base = { table: "umld_0123456789abcdef", bridge: "umlbr-01234567", subnet: "10.9.0.0/24", prefix6: "fd42:1:2:3::/64" };

describe("IPv6 in a host network's table", () => {
  it("routed: the prefix is forwarded both ways (never to link-local or metadata), with no NAT", () => {
    const text = firewallRules({ ...base, nat: false, routed: true });
    const fwd = chain(text, "forward");
    assert.ok(!fwd.some((l) => l.includes("nfproto ipv6 drop")));
    assert.ok(fwd.includes(`iifname "umlbr-01234567" ip6 daddr { fe80::/10, fd00:ec2::254 } drop`));
    assert.ok(fwd.indexOf(`iifname "umlbr-01234567" ip6 saddr fd42:1:2:3::/64 accept`) < fwd.indexOf(`iifname "umlbr-01234567" drop`));
    assert.ok(fwd.includes(`oifname "umlbr-01234567" ip6 daddr fd42:1:2:3::/64 accept`));
    assert.ok(fwd.indexOf(`oifname "umlbr-01234567" iifname "umlbr-*" drop`) < fwd.indexOf(`oifname "umlbr-01234567" ip6 daddr fd42:1:2:3::/64 accept`), "never from another network");
    assert.doesNotMatch(text, /masquerade/);
    // into the bridge only the guests' SLAAC addresses: a scan of the /64 filled the host's neighbour table
    const two = chain(firewallRules({ ...base, nat: false, routed: true, guestMacs: ["fe:18:0a:4d:00:02", "fe:18:0a:4d:00:03"] }), "forward");
    assert.equal(two[1], `oifname "umlbr-01234567" ip6 daddr fd42:1:2:3::/64 ip6 daddr != { fd42:1:2:3:fc18:aff:fe4d:2, fd42:1:2:3:fc18:aff:fe4d:3 } drop`);
    assert.ok(fwd.includes(`oifname "umlbr-01234567" ip6 daddr fd42:1:2:3::/64 drop`), "no guest: none");
    assert.throws(() => firewallRules({ ...base, nat: true, guestMacs: ["fe:18:0a:4d:00:02 } accept"] }), /refusing MAC/);
  });

  it("NATed: out with NAT66, in only replies", () => {
    const text = firewallRules({ ...base, nat: true });
    assert.ok(chain(text, "forward").includes(`oifname "umlbr-01234567" ip6 daddr fd42:1:2:3::/64 ct state established,related ct status & dnat == 0 accept`));
    assert.ok(!chain(text, "forward").includes(`oifname "umlbr-01234567" ip6 daddr fd42:1:2:3::/64 accept`));
    assert.ok(chain(text, "postrouting").includes(`ip6 saddr fd42:1:2:3::/64 oifname != "umlbr-01234567" masquerade`));
  });

  it("local (neither): IPv6 is never forwarded; the host answers router solicitations on every network", () => {
    const text = firewallRules({ ...base, nat: false });
    assert.ok(chain(text, "forward").includes(`iifname "umlbr-01234567" meta nfproto ipv6 drop`));
    assert.doesNotMatch(text, /ip6 saddr/);
    assert.ok(chain(text, "input").some((l) => l.includes("nd-router-solicit")));
    assert.throws(() => firewallRules({ ...base, nat: true, prefix6: "fd42::/64; flush ruleset" }), /refusing IPv6 prefix/);
  });

  it("the kernel's nft accepts them", { skip: nftCheckSkip() }, () => {
    for (const f of [
      { ...base, nat: true, guestMacs: ["fe:18:0a:4d:00:02"] },
      { ...base, nat: false, routed: true },
      { ...base, nat: false },
    ]) {
      execFileSync("nft", ["-c", "-f", "-"], { input: firewallRules(f), stdio: ["pipe", "pipe", "pipe"] });
    }
  });
});

describe("router advertisements from the network's dnsmasq", () => {
  it("advertises the prefix on the bridge (ra-only: SLAAC, no DHCPv6) from a process of its own with no DNS", () => {
    const spec = { networkId: "0123456789abcdef", uid: 2_000_000_010, gateway: "10.9.0.1", records: [], names: false, ra: { bridge: "umlbr-01234567", prefix: "fd42:1:2:3::/64" } };
    assert.deepEqual(dnsRoles(spec), ["ra"], "no names: no DNS process");
    const args = dnsmasqArgs(spec, "ra");
    for (const a of ["--port=0", "--interface=umlbr-01234567", "--enable-ra", "--dhcp-range=fd42:1:2:3::,ra-only,64", "--leasefile-ro"]) assert.ok(args.includes(a), a);
    assert.deepEqual(dnsRoles({ ...spec, names: true }), ["dns", "ra"], "names and a prefix: two processes, DNS never with the advertiser's capabilities");
    assert.deepEqual(ROLE_CAPS.dns, ["net_bind_service"]);
    const named = dnsmasqArgs({ ...spec, names: true, ra: null }, "dns");
    assert.ok(!named.includes("--port=0") && !named.includes("--enable-ra"));
    assert.throws(() => dnsmasqArgs({ ...spec, ra: { bridge: "eth0", prefix: "fd42:1:2:3::/64" } }, "ra"), /refusing/);
  });
  it("an AAAA record beside the A record of a NIC on a network with a prefix", () => {
    const args = dnsmasqArgs({ networkId: "0123456789abcdef", uid: 2_000_000_010, gateway: "10.9.0.1", records: [{ name: "web.lan", ip: "10.9.0.2", ip6: "fd42:1:2:3:f818:aff:fe09:2" }] }, "dns");
    assert.ok(args.includes("--host-record=web.lan,10.9.0.2,fd42:1:2:3:f818:aff:fe09:2"));
    assert.throws(
      () => dnsmasqArgs({ networkId: "0123456789abcdef", uid: 2_000_000_010, gateway: "10.9.0.1", records: [{ name: "web.lan", ip: "10.9.0.2", ip6: "fd42::1,1.2.3.4" }] }, "dns"),
      /refusing/,
    );
  });
});
