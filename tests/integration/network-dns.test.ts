import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { TestDaemon, type ConsoleClient } from "../harness/daemon.js";
import { alive, dnsmasqOf as running, nsDnsQuery, TestNamespace } from "../harness/host-net.js";

const dnsmasqOf = (stateDir: string) => running(stateDir).map((p) => p.pid);

/**
 * DNS names on a host network with real guests: `<instance>.<network>` from
 * a dnsmasq on the gateway, one per network, re-adopted after a daemon
 * restart, gone with the network. Queries go to the gateway only.
 */
describe("DNS names for a host network's guests", { timeout: 300_000 }, () => {
  let d: TestDaemon;
  let con: ConsoleClient | undefined;
  let up: TestNamespace | undefined;
  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
  });
  after(async () => {
    con?.close();
    up?.destroy();
    const stateDir = d?.stateDir;
    await d?.stop();
    for (const pid of stateDir ? dnsmasqOf(stateDir) : []) process.kill(pid, "SIGTERM"); // only if the test failed half-way
  });

  it("bad requests change nothing", async () => {
    for (const body of [
      { kind: "switch", subnet: "10.251.0.0/24", dns: true },
      { kind: "user", dns: true },
      { kind: "host", subnet: "10.251.0.0/24", dns: "yes" },
    ]) {
      const r = await d.api("POST", "/v1/networks", { name: "dnet", ...body });
      assert.equal(r.body.error?.code, "invalid_request", JSON.stringify(body));
    }
    assert.deepEqual(dnsmasqOf(d.stateDir), []);
  });

  it("a guest resolves another guest's <instance>.<network>, and a NIC added later is named at once", async () => {
    const net = await d.api("POST", "/v1/networks", { name: "dnet", kind: "host", subnet: "10.251.0.0/24", dns: true });
    assert.equal(net.status, 201, JSON.stringify(net.body));
    assert.equal(net.body.dns, true);
    for (const n of ["d1", "d2"]) {
      await d.create(n);
      assert.equal((await d.api("POST", `/v1/instances/${n}/nics`, { network: "dnet" })).status, 201);
    }
    assert.equal(dnsmasqOf(d.stateDir).length, 1, "one dnsmasq for the network");
    await d.mustAct("d1", "start");
    con = await d.shell("d1");
    assert.match(await con.run("nslookup d2.dnet 10.251.0.1"), /Address:?\s+10\.251\.0\.3/);
    assert.match(await con.run("nslookup d1.dnet 10.251.0.1"), /Address:?\s+10\.251\.0\.2/);
    assert.doesNotMatch(await con.run("nslookup nosuch.dnet 10.251.0.1"), /Address:?\s+10\.251\.0\.\d+\s*$/m);
    await d.create("d3");
    assert.equal((await d.api("POST", "/v1/instances/d3/nics", { network: "dnet" })).status, 201);
    assert.match(await con.run("nslookup d3.dnet 10.251.0.1"), /Address:?\s+10\.251\.0\.4/);
    assert.equal(dnsmasqOf(d.stateDir).length, 1, "still one");
  });

  it("the dnsmasq runs as the network's own uid, with port 53 its only privilege, and sees none of umld's files", async () => {
    const [p] = running(d.stateDir);
    assert.ok(p);
    assert.notEqual(p.uid, 65534, "not nobody");
    assert.ok(p.uid >= 2_000_000_000, `a uid of umld's range: ${p.uid}`);
    const instances = (await d.api("GET", "/v1/instances")).body.instances as Array<{ name: string }>;
    assert.equal(instances.length, 3);
    assert.equal(p.capEff, "0000000000000400", "CAP_NET_BIND_SERVICE only");
    assert.equal(readFileSync(`/proc/${p.pid}/status`, "utf8").match(/^NoNewPrivs:\s+(\d)/m)?.[1], "1");
    assert.ok(!existsSync(`/proc/${p.pid}/root${d.stateDir}`), "the state dir does not exist in its mount namespace");
    assert.ok(!existsSync(`/proc/${p.pid}/root/etc/passwd`), "nor the host's /etc");
    assert.ok(existsSync(`/proc/${p.pid}/root/usr/sbin/dnsmasq`));
  });

  it("the gateway's DNS answers the network's guests only, never from the uplink side", async () => {
    up = TestNamespace.create("umlddns-up", { hostEnd: "umlddns-u0", hostAddr: "198.18.87.1/30", nsAddr: "198.18.87.2/30" });
    up.exec("ip", ["route", "add", "10.251.0.0/24", "via", "198.18.87.1"]);
    assert.equal(nsDnsQuery(up, "10.251.0.1", "d2.dnet", "udp"), "timeout", "UDP 53 on the gateway from the uplink");
    assert.match(nsDnsQuery(up, "10.251.0.1", "d2.dnet", "tcp"), /^(timeout|error )/, "TCP 53 on the gateway from the uplink");
    assert.match(await con!.run("nslookup d2.dnet 10.251.0.1"), /Address:?\s+10\.251\.0\.3/, "the guest still resolves");
  });

  it("after a daemon restart the same dnsmasq serves on, and after deleting everything none is left", async () => {
    const before = dnsmasqOf(d.stateDir);
    const stateDir = d.stateDir;
    con?.close();
    con = undefined;
    await d.kill("SIGTERM");
    d = await TestDaemon.start({ stateDir });
    assert.deepEqual(dnsmasqOf(d.stateDir), before, "re-adopted, not duplicated");
    con = await d.shell("d1");
    assert.match(await con.run("nslookup d2.dnet 10.251.0.1"), /Address:?\s+10\.251\.0\.3/);
    con.close();
    con = undefined;
    for (const n of ["d1", "d2", "d3"]) assert.equal((await d.api("DELETE", `/v1/instances/${n}?force=true`)).status, 200);
    assert.equal((await d.api("DELETE", "/v1/networks/dnet")).status, 200);
    assert.deepEqual(dnsmasqOf(d.stateDir), [], "no dnsmasq left");
    assert.deepEqual(before.filter(alive), [], "the one that ran is gone");
    assert.deepEqual(
      readdirSync(`${d.stateDir}/net`).filter((f) => f.startsWith("dns-")),
      [],
      "no pid file left",
    );
  });
});
