import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { existsSync, readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { TestDaemon, type ConsoleClient } from "../harness/daemon.js";
import type { ChildProcess } from "node:child_process";
import { alive, dnsmasqOf, nsTcpRecorder, sh, TestNamespace, umldTables, until } from "../harness/host-net.js";

/** From inside a namespace: sends `line`, half-closes, prints "reply <what came back>", "error <code>" or "timeout". */
function nsExchange(ns: TestNamespace, host: string, port: number, line: string): string {
  const code = `const s = require("net").connect(${port}, ${JSON.stringify(host)}, () => s.end(${JSON.stringify(`${line}\n`)})); let d = ""; s.on("data", (b) => d += b); s.on("end", () => { console.log("reply " + d.trim()); process.exit(); }); s.on("error", (e) => { console.log("error " + e.code); process.exit(); }); setTimeout(() => { console.log("timeout"); process.exit(); }, 4000);`;
  return ns.exec(process.execPath, ["-e", code]).trim();
}

/**
 * IPv6 on a routed host network with real guests: each guest addresses
 * itself from its MAC (SLAAC from the network's dnsmasq), guests ping each
 * other, a namespace on the "uplink" side (a /64 of the test's own, routed
 * to the network's prefix through the host) pings them at their own
 * addresses, and a guest sending from its neighbour's address is dropped at
 * its port. Nothing leaves this machine.
 */
const PREFIX = "fdec:6:0:2::/64";
const UPLINK_HOST = "fdec:6:0:1::1";
const UPLINK_NS = "fdec:6:0:1::2";

describe("IPv6 on host networks", { timeout: 300_000 }, () => {
  let d: TestDaemon;
  const cons: ConsoleClient[] = [];
  let up: TestNamespace | undefined;
  let server: Server | undefined;
  const recorders: ChildProcess[] = [];
  const addr: Record<string, string> = {};
  let seenDnsmasq: number[] = [];
  const forwardingBefore = readFileSync("/proc/sys/net/ipv6/conf/all/forwarding", "utf8").trim();
  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
  });
  after(async () => {
    for (const c of cons) c.close();
    server?.close();
    for (const p of recorders) p.kill();
    up?.destroy();
    await d?.stop();
  });

  it("refuses prefixes that are not a usable /64 and makes nothing", async () => {
    const bad: Array<[string, string]> = [
      ["fe80::/64", "scope"],
      ["ff02::/64", "scope"],
      ["::1/64", "host_bits"],
      ["::ffff:0:0/96", "length"],
      ["::ffff:10.0.0.0/64", "syntax"],
      ["::/64", "scope"],
      ["fdec:6:0:2::/48", "length"],
      ["fdec:6:0:2::1/64", "host_bits"],
      ["not-an-address/64", "syntax"],
      ["fdec:6:0:2::", "syntax"],
    ];
    for (const [ipv6, reason] of bad) {
      const r = await d.api("POST", "/v1/networks", { name: "bad6", kind: "host", subnet: "10.243.0.0/24", mode: "routed", ipv6 });
      assert.equal(r.status, 400, ipv6);
      assert.deepEqual([r.body.error.code, r.body.error.details?.reason], ["invalid_prefix", reason], ipv6);
    }
    const sw = await d.api("POST", "/v1/networks", { name: "bad6", kind: "switch", subnet: "10.243.0.0/24", ipv6: PREFIX });
    assert.equal(sw.body.error.code, "invalid_request");
    const hostOwn = sh("ip", ["-o", "-6", "addr", "show", "scope", "global"]).match(/inet6 ([0-9a-f:]+)\/64/)?.[1];
    if (hostOwn) {
      const r = await d.api("POST", "/v1/networks", { name: "bad6", kind: "host", subnet: "10.243.0.0/24", ipv6: `${hostOwn.split("::")[0]}::/64` });
      assert.equal(r.body.error?.code, "subnet_conflict", `the host's own ${hostOwn}`);
    }
    assert.equal((await d.api("GET", "/v1/networks")).body.networks.length, 0, "nothing was made");
  });

  it("guests address themselves from their MAC and ping each other and a namespace over IPv6", async () => {
    const net = await d.api("POST", "/v1/networks", { name: "v6net", kind: "host", subnet: "10.243.0.0/24", mode: "routed", ipv6: "FDEC:6:0:2:0::/64", dns: true });
    assert.equal(net.status, 201, JSON.stringify(net.body));
    assert.deepEqual([net.body.ipv6, net.body.gateway6], [PREFIX, "fdec:6:0:2::1"]);
    const again = await d.api("POST", "/v1/networks", { name: "v6dup", kind: "host", subnet: "10.243.128.0/24", ipv6: PREFIX });
    assert.equal(again.body.error?.code, "subnet_conflict");
    for (const name of ["g1", "g2"]) {
      await d.create(name);
      const nic = await d.api("POST", `/v1/instances/${name}/nics`, { network: "v6net" });
      assert.equal(nic.status, 201, JSON.stringify(nic.body));
      assert.ok(nic.body.ipv6.startsWith("fdec:6:0:2:"), nic.body.ipv6);
      addr[name] = nic.body.ipv6;
      await d.mustAct(name, "start");
      cons.push(await d.shell(name));
    }
    const [c1, c2] = cons as [ConsoleClient, ConsoleClient];
    for (const [c, name] of [
      [c1, "g1"],
      [c2, "g2"],
    ] as const) {
      await c.runUntil("ip -6 addr show dev eth0", new RegExp(`inet6 ${addr[name]}/64 scope global(?! tentative)`), 30_000);
      await c.runUntil("ip -6 route", /default via fe80::/, 30_000);
    }
    assert.match(await c1.run(`ping -c 2 -W 3 ${addr.g2}`), / 0% packet loss/, "guest to guest");
    const names = await c1.run("nslookup g2.v6net 10.243.0.1");
    assert.ok(names.includes(addr.g2!), `g2's AAAA record: ${names}`);
    assert.match(names, /10\.243\.0\.3/, "and its A record");
    up = TestNamespace.create("umldv6-up", { hostEnd: "umldv6-u0", nsAddr: "198.18.86.2/30", hostAddr: "198.18.86.1/30" });
    sh("ip", ["-6", "addr", "add", `${UPLINK_HOST}/64`, "dev", "umldv6-u0", "nodad"]);
    up.exec("ip", ["-6", "addr", "add", `${UPLINK_NS}/64`, "dev", "vns0", "nodad"]);
    up.exec("ip", ["-6", "route", "add", PREFIX, "via", UPLINK_HOST]);
    assert.match(up.exec("busybox", ["ping", "-c", "2", "-W", "3", addr.g1!]), / 0% packet loss/, "namespace to guest at its own address");
    assert.match(await c2.run(`ping -c 2 -W 3 ${UPLINK_NS}`), / 0% packet loss/, "guest to namespace");
  });

  it("a guest sending from its neighbour's IPv6 address is dropped; host services stay closed", async () => {
    const [c1, c2] = cons as [ConsoleClient, ConsoleClient];
    const victim = addr.g2!;
    // the namespace counts what arrives from the victim's address
    sh("ip", ["netns", "exec", "umldv6-up", "nft", "add", "table", "inet", "count6"]);
    sh("ip", ["netns", "exec", "umldv6-up", "nft", "add", "chain", "inet", "count6", "in", "{ type filter hook input priority 0; }"]);
    sh("ip", ["netns", "exec", "umldv6-up", "nft", "add", "rule", "inet", "count6", "in", "ip6", "saddr", victim, "icmpv6", "type", "echo-request", "counter"]);
    const counted = () => Number(/packets (\d+)/.exec(up!.exec("nft", ["list", "chain", "inet", "count6", "in"]))?.[1] ?? -1);
    await c2.run(`ping -c 1 -W 3 ${UPLINK_NS}`);
    assert.equal(counted(), 1, "the victim's own ping is counted");
    // no duplicate address detection (busybox ip has no nodad): the address is usable at once
    await c1.run(`echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad; ip -6 addr add ${victim}/128 dev eth0`);
    const spoofed = await c1.run(`ping -c 3 -W 2 -I ${victim} ${UPLINK_NS}`, 30_000);
    assert.match(spoofed, /3 packets transmitted/, "the guest sent them");
    assert.equal(counted(), 1, `nothing from the spoofing guest arrived: ${spoofed}`);
    await c1.run(`ip -6 addr del ${victim}/128 dev eth0`);

    // the guest's nc speaks IPv6: it reaches a server in the namespace, which sees the guest's own address
    const rec = nsTcpRecorder(up!, 7016, "::");
    recorders.push(rec.proc);
    await rec.ready;
    await c1.run(`echo hello-v6 | nc -w 3 ${UPLINK_NS} 7016`, 30_000);
    assert.equal(await until("the namespace's server to get a connection", () => rec.lines()[0]), `${addr.g1} hello-v6`);
    server = createServer((s) => s.end("open\n"));
    await new Promise<void>((r) => server!.listen(0, "::", r));
    const port = (server.address() as { port: number }).port;
    for (const target of ["fdec:6:0:2::1", UPLINK_HOST]) {
      assert.match(await c1.run(`echo x | nc -w 2 ${target} ${port}; echo nc-exit=$?`, 30_000), /nc-exit=1/, `host service at ${target}`);
    }
  });

  it("a NATed network's prefix goes out masqueraded (NAT66), nothing comes in; after a daemon restart nothing is duplicated", async () => {
    const net = await d.api("POST", "/v1/networks", { name: "v6nat", kind: "host", subnet: "10.244.0.0/24", mode: "nat", ipv6: "fdec:6:0:3::/64" });
    assert.equal(net.status, 201, JSON.stringify(net.body));
    await d.create("g3");
    const nic = await d.api("POST", "/v1/instances/g3/nics", { network: "v6nat" });
    await d.mustAct("g3", "start");
    const c3 = await d.shell("g3");
    cons.push(c3);
    await c3.runUntil("ip -6 addr show dev eth0", new RegExp(`inet6 ${nic.body.ipv6}/64 scope global(?! tentative)`), 30_000);
    await c3.runUntil("ip -6 route", /default via fe80::/, 30_000);
    sh("ip", ["netns", "exec", "umldv6-up", "nft", "add", "rule", "inet", "count6", "in", "ip6", "saddr", UPLINK_HOST, "icmpv6", "type", "echo-request", "counter"]);
    const fromHost = () => Number(/saddr fdec:6:0:1::1 .*packets (\d+)/.exec(up!.exec("nft", ["list", "chain", "inet", "count6", "in"]))?.[1] ?? -1);
    const out = await c3.run(`ping -c 2 -W 3 ${UPLINK_NS}`);
    assert.match(out, / 0% packet loss/, `out and back: ${out}`);
    assert.equal(fromHost(), 2, "the namespace saw the host's address, not the guest's");
    up!.exec("ip", ["-6", "route", "add", "fdec:6:0:3::/64", "via", UPLINK_HOST]);
    assert.match(up!.exec("sh", ["-c", `busybox ping -c 2 -W 2 ${nic.body.ipv6} || true`]), /100% packet loss/, "nothing comes in to a NATed guest");

    // an IPv6 forward on the host's uplink address reaches a TCP server in the NAT66 guest, until it is removed
    const bad = await d.api("POST", "/v1/networks/v6nat/forwards", { listenAddress: "fdec:6:0:9::1", listenPort: 47611, instance: "g3", targetPort: 8000 });
    assert.equal(bad.body.error?.code, "invalid_request", "not an address of this host");
    const noPrefix = await d.api("POST", "/v1/networks", { name: "v4only", kind: "host", subnet: "10.245.0.0/24", nat: true });
    assert.equal(noPrefix.status, 201);
    const fwd = await d.api("POST", "/v1/networks/v6nat/forwards", { listenAddress: "FDEC:6:0:1:0::1", listenPort: 47611, instance: "g3", targetPort: 8000 });
    assert.equal(fwd.status, 201, JSON.stringify(fwd.body));
    assert.deepEqual([fwd.body.listenAddress, fwd.body.targetAddress], [UPLINK_HOST, nic.body.ipv6]);
    c3.type("(echo from-guest6 | nc -l -p 8000 > /tmp/got6) &\n");
    await c3.runUntil("cat /proc/net/tcp6 | grep -i ':1F40 '", /:1F40 .* 0A /i);
    assert.equal(nsExchange(up!, UPLINK_HOST, 47611, "hello-v6-forward"), "reply from-guest6");
    assert.match(await c3.run("cat /tmp/got6"), /hello-v6-forward/);
    assert.equal((await d.api("DELETE", `/v1/networks/v6nat/forwards/tcp/47611?listenAddress=${encodeURIComponent("fdec:6:0:1::1")}`)).status, 200);
    c3.type("(echo from-guest6 | nc -l -p 8000 > /tmp/got6) &\n");
    await c3.runUntil("cat /proc/net/tcp6 | grep -i ':1F40 '", /:1F40 .* 0A /i);
    assert.doesNotMatch(nsExchange(up!, UPLINK_HOST, 47611, "after-removal"), /^reply/, "the forward is gone");
    assert.equal((await d.api("DELETE", "/v1/networks/v4only")).status, 200);

    const dnsmasqs = () => dnsmasqOf(d.stateDir).map((p) => `${p.role} ${p.pid} ${p.uid}`);
    const tables = () =>
      sh("nft", ["list", "ruleset"])
        .split("\n")
        .filter((l) => l.includes("fdec:6:0:"))
        .sort();
    const before = [
      dnsmasqs(),
      tables(),
      sh("ip", ["-6", "-o", "addr", "show"])
        .split("\n")
        .filter((l) => l.includes("fdec:6:0:"))
        .sort(),
    ];
    assert.equal(before[0]!.length, 3, "names and advertisements on one network, advertisements on the other");
    assert.equal(new Set(dnsmasqOf(d.stateDir).map((p) => p.uid)).size, 2, "a uid per network");
    assert.ok(
      dnsmasqOf(d.stateDir).every((p) => p.capEff === (p.role === "dns" ? "0000000000000400" : "0000000000003000")),
      "names with port 53 only; advertisements with raw sockets and net_admin",
    );
    seenDnsmasq = dnsmasqOf(d.stateDir).map((p) => p.pid);
    for (const c of cons.splice(0)) c.close();
    const stateDir = d.stateDir;
    await d.kill("SIGTERM");
    d = await TestDaemon.start({ stateDir });
    assert.deepEqual(
      [
        dnsmasqs(),
        tables(),
        sh("ip", ["-6", "-o", "addr", "show"])
          .split("\n")
          .filter((l) => l.includes("fdec:6:0:"))
          .sort(),
      ],
      before,
      "re-adopted, not duplicated",
    );
    const again = await d.shell("g1");
    cons.push(again);
    assert.match(await again.run(`ping -c 2 -W 3 ${addr.g2}`), / 0% packet loss/, "still guest to guest");
  });

  it("after deleting everything nothing is left", async () => {
    for (const c of cons.splice(0)) c.close();
    const nets = (await d.api("GET", "/v1/networks")).body.networks as Array<{ bridge: string }>;
    assert.equal(nets.length, 2);
    for (const name of ["g1", "g2", "g3"]) assert.equal((await d.api("DELETE", `/v1/instances/${name}?force=true`)).status, 200);
    for (const name of ["v6net", "v6nat"]) assert.equal((await d.api("DELETE", `/v1/networks/${name}`)).status, 200);
    for (const { bridge } of nets) {
      assert.ok(!sh("ip", ["-o", "link"]).includes(bridge), "bridge gone");
      assert.ok(!umldTables().some((t) => t.startsWith(`umld_${bridge.slice(6)}`)), "tables gone");
    }
    assert.ok(!sh("nft", ["list", "ruleset"]).includes("fdec:6:0:"), "no rule names the prefixes");
    assert.deepEqual(dnsmasqOf(d.stateDir), [], "no dnsmasq");
    assert.deepEqual(seenDnsmasq.filter(alive), [], "those that ran are gone");
    assert.equal(readFileSync("/proc/sys/net/ipv6/conf/all/forwarding", "utf8").trim(), forwardingBefore, "forwarding as it was");
    assert.ok(!existsSync(`${d.stateDir}/net/ipv6_forward.umld`));
  });
});
