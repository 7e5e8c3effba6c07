import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { TestDaemon, type ConsoleClient } from "../harness/daemon.js";

/** dnsmasq processes serving a state dir's networks: by the pid files umld gives them. */
function dnsmasqOf(stateDir: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
      if (cmd[0] === "/usr/sbin/dnsmasq" && cmd.some((a) => a.startsWith(`--pid-file=${stateDir}/`))) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

/**
 * DNS names on a host network with real guests: `<instance>.<network>` from
 * a dnsmasq on the gateway, one per network, re-adopted after a daemon
 * restart, gone with the network. Queries go to the gateway only.
 */
describe("DNS names for a host network's guests", { timeout: 300_000 }, () => {
  let d: TestDaemon;
  let con: ConsoleClient | undefined;
  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
  });
  after(async () => {
    con?.close();
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
    assert.deepEqual(
      readdirSync(`${d.stateDir}/net`).filter((f) => f.startsWith("dns-")),
      [],
      "no pid file left",
    );
  });
});
