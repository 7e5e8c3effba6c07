import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { firewallRules, type FirewallSpec } from "../../core/network/host-links.js";
import { parseProcNet } from "../../core/network/listeners.js";
import { chain, nftCheckSkip } from "../harness/host-net.js";

const spec = (forwards: FirewallSpec["forwards"]): FirewallSpec => ({ table: "umld_0123456789abcdef", bridge: "umlbr-01234567", subnet: "10.9.0.0/24", nat: true, forwards });

describe("port forward rules", () => {
  it("DNAT from anywhere but a guest bridge, and the forward chain lets exactly the DNATed flow in", () => {
    const text = firewallRules(
      spec([
        { protocol: "tcp", listenAddress: null, listenPort: 8080, ip: "10.9.0.2", targetPort: 80 },
        { protocol: "udp", listenAddress: "192.0.2.1", listenPort: 5353, ip: "10.9.0.3", targetPort: 53 },
      ]),
    );
    assert.deepEqual(chain(text, "prerouting").slice(1), [
      'iifname != "umlbr-*" fib daddr type local tcp dport 8080 dnat ip to 10.9.0.2:80',
      'iifname != "umlbr-*" ip daddr 192.0.2.1 udp dport 5353 dnat ip to 10.9.0.3:53',
    ]);
    const fwd = chain(text, "forward");
    const accept = fwd.indexOf('oifname "umlbr-01234567" ip daddr 10.9.0.2 tcp dport 80 ct status dnat accept');
    assert.ok(accept > 0 && accept < fwd.indexOf('oifname "umlbr-01234567" drop'), "before the drop");
  });

  it("no forwards, or no NAT: no prerouting chain at all", () => {
    assert.ok(!firewallRules(spec([])).includes("prerouting"));
    assert.ok(!firewallRules({ ...spec([{ protocol: "tcp", listenAddress: null, listenPort: 1, ip: "10.9.0.2", targetPort: 1 }]), nat: false }).includes("dnat"));
  });

  it("refuses what did not come from umld's own checks", () => {
    const base = { protocol: "tcp" as const, listenAddress: null, listenPort: 80, ip: "10.9.0.2", targetPort: 80 };
    for (const bad of [{ listenPort: 0 }, { targetPort: 65536 }, { listenPort: 1.5 }, { ip: "10.9.0.2; flush ruleset" }, { listenAddress: "1.2.3.4 accept" }, { protocol: "icmp" }]) {
      assert.throws(() => firewallRules(spec([{ ...base, ...bad } as never])), /refusing/, JSON.stringify(bad));
    }
  });

  it("IPv6 forwards: DNAT to the guest's IPv6 address, on one host address or every IPv6 one, never from a guest bridge", () => {
    const text = firewallRules({
      ...spec([
        { protocol: "tcp", listenAddress: "2001:db8::10", listenPort: 8080, ip: "fd42:1:2:3:f818:aff:fe09:2", targetPort: 80 },
        { protocol: "udp", listenAddress: "::", listenPort: 5353, ip: "fd42:1:2:3:f818:aff:fe09:3", targetPort: 53 },
      ]),
      prefix6: "fd42:1:2:3::/64",
    });
    assert.deepEqual(chain(text, "prerouting").slice(1), [
      'iifname != "umlbr-*" ip6 daddr 2001:db8::10 tcp dport 8080 dnat ip6 to [fd42:1:2:3:f818:aff:fe09:2]:80',
      'iifname != "umlbr-*" meta nfproto ipv6 fib daddr type local udp dport 5353 dnat ip6 to [fd42:1:2:3:f818:aff:fe09:3]:53',
    ]);
    assert.ok(chain(text, "forward").includes('oifname "umlbr-01234567" ip6 daddr fd42:1:2:3:f818:aff:fe09:2 tcp dport 80 ct status dnat accept'));
    assert.throws(() => firewallRules(spec([{ protocol: "tcp", listenAddress: "::", listenPort: 1, ip: "10.9.0.2", targetPort: 1 }])), /refusing/, "an IPv6 forward to an IPv4 address");
  });

  it("the kernel's nft accepts the ruleset", { skip: nftCheckSkip() }, () => {
    execFileSync("nft", ["-c", "-f", "-"], {
      input: firewallRules({
        ...spec([
          { protocol: "tcp", listenAddress: "2001:db8::10", listenPort: 8080, ip: "fd42:1:2:3:f818:aff:fe09:2", targetPort: 80 },
          { protocol: "udp", listenAddress: "::", listenPort: 5353, ip: "fd42:1:2:3:f818:aff:fe09:3", targetPort: 53 },
        ]),
        prefix6: "fd42:1:2:3::/64",
      }),
      stdio: ["pipe", "pipe", "pipe"],
    });
    const text = firewallRules(spec([{ protocol: "tcp", listenAddress: "192.0.2.1", listenPort: 8080, ip: "10.9.0.2", targetPort: 80 }]));
    execFileSync("nft", ["-c", "-f", "-"], { input: text, stdio: ["pipe", "pipe", "pipe"] });
  });
});

describe("host listeners from /proc/net", () => {
  it("TCP in LISTEN and bound UDP, wildcards as *, IPv4-mapped IPv6 as IPv4", () => {
    const tcp = [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1",
      "   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2",
      "   2: 0100007F:A000 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 3",
    ].join("\n");
    assert.deepEqual(parseProcNet(tcp, "tcp", false), [
      { protocol: "tcp", address: "127.0.0.1", port: 8080 },
      { protocol: "tcp", address: "*", port: 22 },
    ]);
    const tcp6 = [
      "header",
      "   0: 0000000000000000FFFF00000100A8C0:0050 00000000000000000000000000000000:0000 0A 0 0 0 0 0 0 1",
      "   1: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 0",
      "   2: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 0",
      "   3: 0000ECFD00000600000000000A000000:1F90 00000000000000000000000000000000:0000 0A 0",
    ].join("\n");
    assert.deepEqual(
      parseProcNet(tcp6, "tcp", true).map((l) => [l.address, l.port]),
      [
        ["192.168.0.1", 80],
        ["*", 443],
        ["::1", 22],
        ["fdec:0:6::a", 8080],
      ],
    );
    assert.deepEqual(parseProcNet("h\n   0: 00000000:0035 00000000:0000 07 0", "udp", false), [{ protocol: "udp", address: "*", port: 53 }]);
  });
});
