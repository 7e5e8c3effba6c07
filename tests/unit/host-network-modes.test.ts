import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { dnsmasqArgs, dnsName } from "../../core/network/dns.js";
import { firewallRules } from "../../core/network/host-links.js";
import { chain, nftCheckSkip } from "../harness/host-net.js";

const routed = { table: "umld_0123456789abcdef", bridge: "umlbr-01234567", subnet: "10.9.0.0/24", nat: false, routed: true };

describe("routed host network rules", () => {
  it("forwards the subnet both ways, never to or from another umld bridge or to metadata, and never NATs", () => {
    const text = firewallRules(routed);
    const fwd = chain(text, "forward");
    const at = (rule: string) => fwd.indexOf(rule);
    assert.ok(at('iifname "umlbr-01234567" oifname "umlbr-*" drop') < at('iifname "umlbr-01234567" ip saddr 10.9.0.0/24 accept'));
    assert.ok(at('iifname "umlbr-01234567" ip daddr 169.254.0.0/16 drop') < at('iifname "umlbr-01234567" ip saddr 10.9.0.0/24 accept'));
    assert.ok(at('oifname "umlbr-01234567" iifname "umlbr-*" drop') < at('oifname "umlbr-01234567" ip daddr 10.9.0.0/24 accept'));
    assert.ok(at('oifname "umlbr-01234567" ip daddr 10.9.0.0/24 accept') < at('oifname "umlbr-01234567" drop'));
    assert.ok(at('oifname "umlbr-01234567" meta nfproto ipv6 drop') >= 0, "IPv6 still not forwarded");
    assert.ok(!text.includes("masquerade") && !text.includes("dnat"));
    assert.ok(!firewallRules({ ...routed, forwards: [{ protocol: "tcp", listenAddress: null, listenPort: 1, ip: "10.9.0.2", targetPort: 1 }] }).includes("dnat"), "forwards are for NATed networks");
  });

  it("the kernel's nft accepts it", { skip: nftCheckSkip() }, () => {
    execFileSync("nft", ["-c", "-f", "-"], { input: firewallRules(routed), stdio: ["pipe", "pipe", "pipe"] });
  });
});

describe("bridged host network rules", () => {
  const bridged = { table: "umld_0123456789abcdef", bridge: "br0", subnet: "192.168.50.0/24", nat: false, bridged: true };
  it("only the guests' MACs are kept from the host, the host routes nothing of theirs, and nothing is NATed or DNATed", () => {
    const text = firewallRules({ ...bridged, guestMacs: ["fa:18:c0:a8:32:14"] });
    assert.deepEqual(chain(text, "input").slice(1), [
      'iifname "br0" ether saddr { fa:18:c0:a8:32:14 } ct state established,related accept',
      'iifname "br0" ether saddr { fa:18:c0:a8:32:14 } icmp type echo-request accept',
      'iifname "br0" ether saddr { fa:18:c0:a8:32:14 } icmpv6 type { echo-request, nd-neighbor-solicit, nd-neighbor-advert } accept',
      'iifname "br0" ether saddr { fa:18:c0:a8:32:14 } drop',
    ]);
    assert.deepEqual(chain(text, "forward").slice(1), ['iifname "br0" ether saddr { fa:18:c0:a8:32:14 } oifname != "br0" drop'], "bridged in the LAN, never routed by the host");
    assert.ok(!/masquerade|dnat/.test(text));
    assert.deepEqual(chain(firewallRules({ ...bridged, guestMacs: [] }), "input").slice(1), [], "no guests: nothing dropped");
  });
  it("refuses a bridge or MAC that is not one", () => {
    assert.throws(() => firewallRules({ ...bridged, bridge: 'br0" accept' }), /refusing/);
    assert.throws(() => firewallRules({ ...bridged, guestMacs: ["fa:18:c0:a8:32:14 }"] }), /refusing/);
  });
  it("the kernel's nft accepts it", { skip: nftCheckSkip() }, () => {
    execFileSync("nft", ["-c", "-f", "-"], { input: firewallRules({ ...bridged, guestMacs: ["fa:18:c0:a8:32:14", "fa:18:c0:a8:32:15"] }), stdio: ["pipe", "pipe", "pipe"] });
  });
});

describe("DNS names (dnsmasq)", () => {
  it("only the gateway, no upstream or files, one record per NIC in a stable order, names as <instance>.<network> of the owner", () => {
    const args = dnsmasqArgs(
      {
        networkId: "0123456789abcdef",
        uid: 2_000_000_010,
        gateway: "10.9.0.1",
        records: [
          { name: "web.lan", ip: "10.9.0.3" },
          { name: "db.lan", ip: "10.9.0.2" },
        ],
      },
      "dns",
    );
    assert.deepEqual(args, [
      "--keep-in-foreground",
      "--user=",
      "--group=",
      "--pid-file",
      "--log-facility=-",
      "--conf-file=/dev/null",
      "--no-resolv",
      "--no-hosts",
      "--bind-interfaces",
      "--except-interface=lo",
      "--listen-address=10.9.0.1",
      "--host-record=db.lan,10.9.0.2",
      "--host-record=web.lan,10.9.0.3",
    ]);
    assert.equal(dnsName("acme.web", "acme.lan"), "web.lan", "a tenant's names, not the stored ones");
    assert.equal(dnsName("web", "lan"), "web.lan");
  });
  it("refuses what is not a name or an address", () => {
    for (const r of [
      { name: "web.lan,1.2.3.4", ip: "10.9.0.3" },
      { name: "web", ip: "10.9.0.3" },
      { name: "web.lan", ip: "10.9.0.3 --port=0" },
    ]) {
      assert.throws(() => dnsmasqArgs({ networkId: "0123456789abcdef", uid: 2_000_000_010, gateway: "10.9.0.1", records: [r] }, "dns"), /refusing/, JSON.stringify(r));
    }
  });
  it("the host network's table opens port 53 on the gateway only when it serves names", () => {
    const base = { table: "umld_0123456789abcdef", bridge: "umlbr-01234567", subnet: "10.9.0.0/24", nat: false };
    const open = 'iifname "umlbr-01234567" ip daddr 10.9.0.1 meta l4proto { tcp, udp } th dport 53 accept';
    const input = chain(firewallRules({ ...base, dns: true }), "input");
    assert.ok(input.indexOf(open) > 0 && input.indexOf(open) < input.indexOf('iifname "umlbr-01234567" drop'));
    assert.ok(!chain(firewallRules(base), "input").includes(open));
  });
});
