import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { readdirSync, readFileSync } from "node:fs";
import { InProcessDaemon } from "../harness/in-process.js";
import { sh, sweepHostNetworking } from "../harness/host-net.js";

/**
 * Review of issue 16 (forwards, routed and bridged networks) as a hostile
 * tenant. These tests make real host pieces (a bridge of the test's own with
 * no uplink, umld's bridges, TAPs and nft tables) and remove them: no traffic
 * is sent.
 */
const LAN = "umlrv2br0";

describe("review: reach (issue 16) as a hostile tenant", () => {
  let d: InProcessDaemon;
  let acme: string;
  let other: string;
  before(async () => {
    d = await InProcessDaemon.start();
    try {
      sh("ip", ["link", "del", LAN]);
    } catch {
      // not there
    }
    sh("ip", ["link", "add", LAN, "type", "bridge"]);
    acme = await d.tenant("acme");
    other = await d.tenant("other");
    for (const [t, range] of [
      ["acme", { first: 47100, last: 47109 }],
      ["other", { first: 47100, last: 47109 }],
    ] as const) {
      assert.equal((await d.api("PATCH", `/v1/tenants/${t}`, { quotas: { forwardPorts: range } })).status, 200);
    }
    for (const [token, name] of [
      [acme, "web"],
      [other, "db"],
    ] as const) {
      assert.equal((await d.api("POST", "/v1/instances", { name, memoryMiB: 64 }, { token })).status, 201);
    }
  });
  after(async () => {
    try {
      for (const i of ["acme.web", "other.db", "other.web"]) await d.api("DELETE", `/v1/instances/${i}`);
      for (const n of ["acme.lan", "acme.pub", "other.pub", "acme.names", "other.names"]) await d.api("DELETE", `/v1/networks/${n}`);
    } finally {
      sweepHostNetworking(d.stateDir);
      await d.stop();
      try {
        sh("ip", ["link", "del", LAN]);
      } catch {
        // gone
      }
    }
  });

  it("on a bridged network the admin gives a NIC its address: a tenant cannot pick one (a LAN neighbour's)", async () => {
    const net = await d.api("POST", "/v1/networks", { name: "lan", kind: "host", subnet: "10.232.0.0/24", mode: "bridged", bridge: LAN }, { headers: { "umld-tenant": "acme" } });
    assert.equal(net.status, 201, JSON.stringify(net.body));
    // 10.232.0.53: say the LAN's resolver, another provider machine not on this host
    const r = await d.api("POST", "/v1/instances/web/nics", { network: "lan", ip: "10.232.0.53" }, { token: acme });
    assert.deepEqual([r.status, r.body?.error?.code], [403, "forbidden"], `the tenant took ${r.body?.ip}`);
    assert.equal((await d.api("GET", "/v1/instances/acme.web")).body.nics?.length ?? 0, 0, "nothing attached");
  });

  it("on a bridged network a tenant cannot give its NIC a LAN neighbour's MAC", async () => {
    const r = await d.api("POST", "/v1/instances/web/nics", { network: "lan", mac: "52:54:00:12:34:56" }, { token: acme });
    if (r.status === 201) await d.api("DELETE", `/v1/instances/acme.web/nics/${r.body.slot}`);
    assert.deepEqual([r.status, r.body?.error?.code], [403, "forbidden"], "the tenant's NIC took a MAC the LAN's switches now learn at this host's port");
  });

  it("a tenant's forward refused as taken does not name another tenant's network or address", async () => {
    for (const [tenant, subnet] of [
      ["acme", "10.233.0.0/24"],
      ["other", "10.234.0.0/24"],
    ] as const) {
      assert.equal((await d.api("POST", "/v1/networks", { name: "pub", kind: "host", subnet, nat: true }, { headers: { "umld-tenant": tenant } })).status, 201);
    }
    assert.equal((await d.api("POST", "/v1/instances/db/nics", { network: "pub" }, { token: other })).status, 201);
    assert.equal((await d.api("POST", "/v1/instances/web/nics", { network: "pub" }, { token: acme })).status, 201);
    const theirs = await d.api("POST", "/v1/networks/pub/forwards", { listenPort: 47101, instance: "db" }, { token: other });
    assert.equal(theirs.status, 201, JSON.stringify(theirs.body));
    const mine = await d.api("POST", "/v1/networks/pub/forwards", { listenPort: 47101, instance: "web" }, { token: acme });
    assert.equal(mine.body.error.code, "port_taken");
    assert.doesNotMatch(JSON.stringify(mine.body), /other/, "another tenant's name is absent, as everywhere else");
    const listed = await d.api("GET", "/v1/networks/pub/forwards", undefined, { token: other });
    assert.deepEqual([listed.body.forwards[0].network, listed.body.forwards[0].instance], ["pub", "db"], "a tenant sees its forwards by the names it uses");
  });

  it("an admin cannot take a tenant's port range away while its forwards listen there", async () => {
    assert.equal((await d.api("POST", "/v1/networks/pub/forwards", { listenPort: 47102, instance: "web" }, { token: acme })).status, 201);
    const before = (await d.api("GET", "/v1/tenants/acme")).body;
    for (const forwardPorts of [null, { first: 47103, last: 47200 }]) {
      const r = await d.api("PATCH", "/v1/tenants/acme", { quotas: { forwardPorts } });
      assert.deepEqual([r.status, r.body.error?.code], [409, "tenant_in_use"], JSON.stringify(r.body));
      assert.ok(r.body.error.details.forwardPorts.includes(47102), "names the port");
    }
    assert.deepEqual((await d.api("GET", "/v1/tenants/acme")).body, before, "nothing changed");
    assert.match(sh("nft", ["list", "ruleset"]), /dport 47102 dnat/, "the forward is still there, and still the tenant's");
  });

  it("each network's dnsmasq runs as a uid of its own, not the one every other network's (and the host's nobody daemons) share", async () => {
    for (const [tenant, subnet] of [
      ["acme", "10.235.0.0/24"],
      ["other", "10.236.0.0/24"],
    ] as const) {
      const r = await d.api("POST", "/v1/networks", { name: "names", kind: "host", subnet, nat: true, dns: true }, { headers: { "umld-tenant": tenant } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    const uids = readdirSync(`${d.stateDir}/net`)
      .filter((f) => /^dns-.*\.pid$/.test(f))
      .map((f) => {
        const pid = readFileSync(`${d.stateDir}/net/${f}`, "utf8").trim();
        return /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1];
      });
    assert.equal(uids.length, 2);
    assert.notEqual(uids[0], uids[1], `both run as uid ${uids[0]}`);
  });

  it("on a tenant's network with names, a guest of another owner (an admin attached it) takes no name: never one the tenant's guests resolve", async () => {
    assert.equal((await d.api("POST", "/v1/instances", { name: "web", memoryMiB: 64 }, { token: other })).status, 201);
    const mine = await d.api("POST", "/v1/instances/acme.web/nics", { network: "acme.names" });
    assert.equal(mine.status, 201, JSON.stringify(mine.body));
    assert.equal((await d.api("POST", "/v1/instances/other.web/nics", { network: "acme.names" })).status, 201);
    const cmd = readdirSync(`${d.stateDir}/net`)
      .filter((f) => /^dns-.*\.pid$/.test(f))
      .map((f) => readFileSync(`/proc/${readFileSync(`${d.stateDir}/net/${f}`, "utf8").trim()}/cmdline`, "utf8").split("\0"))
      .find((c) => c.includes("--listen-address=10.235.0.1"))!;
    assert.deepEqual(
      cmd.filter((a) => a.startsWith("--host-record=")),
      [`--host-record=web.names,${mine.body.ip}`],
      "acme's web only",
    );
  });
});
