import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { forwardedOf, PeerAuth } from "../../core/fleet/peer-auth.js";
import { TestFleet } from "../harness/fleet.js";

const until = async <T>(what: string, f: () => Promise<T | null | undefined | false>, ms = 20_000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

describe("fleet: one namespace of instances, tenants and tokens across three hosts", { timeout: 300_000 }, () => {
  let fleet: TestFleet;
  before(async () => {
    fleet = await TestFleet.start(["ia", "ib", "ic"], { leaseTtlS: 3 });
  });
  after(async () => fleet?.stop());
  const d = (n: string) => fleet.host(n).d;

  it("any host shows an instance of another, saying its host, and lists the whole fleet", async () => {
    await d("ia")
      .client()
      .call("createInstance", { body: { name: "fw-a", memoryMiB: 64, host: "ia" } });
    await d("ib")
      .client()
      .call("createInstance", { body: { name: "fw-b", memoryMiB: 64, host: "ib" } });
    const got = await d("ic").api("GET", "/v1/instances/fw-a");
    assert.equal(got.status, 200);
    assert.equal(got.body.host, "ia");
    for (const n of ["ia", "ib", "ic"]) {
      const list = await d(n).client().call("listInstances");
      assert.deepEqual(list.instances.map((i) => [i.name, i.host]).sort(), [
        ["fw-a", "ia"],
        ["fw-b", "ib"],
      ]);
      assert.deepEqual(list.unreachable ?? [], []);
    }
  });

  it("a lifecycle action sent to another host runs on the instance's host (a real guest boots there)", async () => {
    const started = await d("ib").act("fw-a", "start");
    assert.equal(started.status, 200, JSON.stringify(started.body));
    assert.equal(started.body.instance.state, "running");
    const there = await d("ia").get("fw-a");
    assert.equal(there.state, "running");
    assert.ok(there.pid && there.pid > 0);
    const halted = await d("ic").act("fw-a", "halt");
    assert.equal(halted.status, 200, JSON.stringify(halted.body));
    assert.equal((await d("ia").get("fw-a")).state, "stopped");
  });

  it("a tenant's token made on one host works on every host, acting only on its own instances; a revocation reaches every host", async () => {
    await d("ia")
      .client()
      .call("createTenant", { body: { name: "acme" } });
    await d("ia")
      .client()
      .call("createTenant", { body: { name: "evil" } });
    const acme = await d("ia")
      .client()
      .call("createToken", { params: { tenant: "acme" }, body: { name: "k", actions: ["read", "create", "delete", "power"] } });
    const evil = await d("ib")
      .client()
      .call("createToken", { params: { tenant: "evil" }, body: { name: "k", actions: ["read", "create", "delete", "power"] } });
    const onC = await until("the token on ic", async () => {
      const r = await d("ic").api("GET", "/v1/instances", undefined, { token: acme.token });
      return r.status === 200 ? r : null;
    });
    assert.deepEqual(onC.body.instances, [], "acme sees none of the admin's instances");
    const made = await d("ic").api("POST", "/v1/instances", { name: "web", memoryMiB: 32 }, { token: acme.token });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const home: string = made.body.host ?? (await d("ic").api("GET", "/v1/instances/web", undefined, { token: acme.token })).body.host; // placed by free memory
    const elsewhere = ["ia", "ib", "ic"].find((n) => n !== home)!;
    const viaOther = await d(elsewhere).api("GET", "/v1/instances/web", undefined, { token: acme.token });
    assert.equal(viaOther.status, 200);
    assert.equal(viaOther.body.name, "web");
    assert.equal(viaOther.body.host, home);
    // evil names 'web': its own namespace, where nothing of that name exists on any host
    await until("evil's token on ia", async () => (await d("ia").api("GET", "/v1/instances", undefined, { token: evil.token })).status === 200);
    assert.equal((await d("ia").api("GET", "/v1/instances/web", undefined, { token: evil.token })).status, 404);
    assert.equal((await d("ia").api("DELETE", "/v1/instances/web", undefined, { token: evil.token })).status, 404);
    const evilList = await d("ia").api("GET", "/v1/instances", undefined, { token: evil.token });
    assert.deepEqual(evilList.body.instances, []);
    // the admin sees acme's instance by its stored name, on its host
    const adminList = await d("ib").client().call("listInstances");
    assert.ok(adminList.instances.some((i) => i.name === "acme.web" && i.host === home));
    // a tenant with instances in the fleet is not deleted on a host that has none of them
    const del = await d("ia").api("DELETE", "/v1/tenants/acme");
    assert.equal(del.status, 409);
    assert.equal(del.body.error.code, "tenant_in_use");
    await d("ib")
      .client()
      .call("revokeToken", { params: { tenant: "acme", token: acme.id } });
    await until("the revocation on ic", async () => (await d("ic").api("GET", "/v1/instances", undefined, { token: acme.token })).status === 401);
    assert.equal((await d("ia").api("GET", "/v1/instances", undefined, { token: acme.token })).status, 401);
    assert.equal((await d("ia").api("DELETE", "/v1/instances/acme.web")).status, 200, "deleted through any host");
  });

  it("a tenant deleted in the fleet loses its tokens on every host, also on one where it still owns a network (kept there for the admin)", async () => {
    await d("ia")
      .client()
      .call("createTenant", { body: { name: "gone" } });
    const tok = await d("ia")
      .client()
      .call("createToken", { params: { tenant: "gone" }, body: { name: "k", actions: ["read", "network"] } });
    await until("the token on ib", async () => (await d("ib").api("GET", "/v1/networks", undefined, { token: tok.token })).status === 200);
    const net = await d("ib").api("POST", "/v1/networks", { name: "lan", subnet: "10.93.0.0/24" }, { token: tok.token });
    assert.equal(net.status, 201, JSON.stringify(net.body));
    // ia holds nothing of it, and no instance of it is claimed in the fleet: ia deletes it
    assert.equal((await d("ia").api("DELETE", "/v1/tenants/gone")).status, 200);
    await until("the delete on ic", async () => (await d("ic").api("GET", "/v1/networks", undefined, { token: tok.token })).status === 401);
    const onB = await d("ib").api("GET", "/v1/networks", undefined, { token: tok.token });
    assert.equal(onB.status, 401, "the deleted tenant's token is dead on the host that keeps its network too");
    assert.equal((await d("ib").api("POST", "/v1/networks", { name: "lan2", subnet: "10.92.0.0/24" }, { token: tok.token })).status, 401);
    // ib restarts (it publishes what etcd lacks: the tenant it kept), then ic (it imports what etcd holds): the token stays dead
    for (const h of ["ib", "ic"]) {
      await d(h).kill("SIGTERM"); // as systemd stops it: the state stays
      await fleet.restart(h);
    }
    for (const h of ["ia", "ib", "ic"]) assert.equal((await d(h).api("GET", "/v1/networks", undefined, { token: tok.token })).status, 401, `the deleted tenant's token after restarts, on ${h}`);
    const left = await d("ib").api("DELETE", "/v1/networks/gone.lan");
    assert.equal(left.status, 200, `the admin deletes what it left: ${JSON.stringify(left.body)} ${JSON.stringify((await d("ib").api("GET", "/v1/networks")).body)}`);
  });

  it("a tenant's memory quota counts a boot size it raised after the create, on every host", async () => {
    await d("ia")
      .client()
      .call("createTenant", { body: { name: "quo", quotas: { maxMemoryMiB: 128 } } });
    const tok = await d("ia")
      .client()
      .call("createToken", { params: { tenant: "quo" }, body: { name: "k", actions: ["read", "create", "delete", "configure", "power"] } });
    const as = { token: tok.token };
    await until("the token on ib", async () => (await d("ib").api("GET", "/v1/instances", undefined, as)).status === 200);
    const a = await d("ia").api("POST", "/v1/instances", { name: "a", memoryMiB: 32 }, as);
    assert.equal(a.status, 201, JSON.stringify(a.body));
    const home: string = (await d("ia").api("GET", "/v1/instances/a", undefined, as)).body.host;
    assert.equal((await d("ib").api("PATCH", "/v1/instances/a", { maxMemoryMiB: 96 }, as)).status, 200);
    // running, it makes its host the fullest: the next create is placed on another host
    const started = await d("ic").api("PUT", "/v1/instances/a/state", { action: "start" }, as);
    assert.equal(started.status, 200, JSON.stringify(started.body));
    await until("a running on its host", async () => (await d(home).get("quo.a")).state === "running");
    await until("its host's figures", async () => (await d("ia").client().call("listHosts")).hosts.every((h) => h.name !== home || (h.memory?.committedMiB ?? 0) >= 96));
    const b = await d("ia").api("POST", "/v1/instances", { name: "b", memoryMiB: 64 }, as);
    assert.equal(b.status, 409, `96 + 64 MiB is over the 128 MiB quota: ${JSON.stringify(b.body)}`);
    assert.equal(b.body.error.code, "quota_exceeded");
    assert.equal((await d(home).act("quo.a", "halt")).status, 200);
    assert.equal((await d("ia").api("DELETE", "/v1/instances/quo.a")).status, 200);
    assert.equal((await d("ia").api("DELETE", "/v1/tenants/quo")).status, 200);
  });

  it("a tenant name made on one host is refused on another", async () => {
    const r = await d("ic").api("POST", "/v1/tenants", { name: "acme" });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, "tenant_exists");
  });

  it("peer requests without a valid fleet signature are refused: forged, replayed, for another path or body, or signed with another secret", async () => {
    const b = fleet.host("ib");
    const secret = Buffer.from(readFileSync(fleet.secretFile, "utf8").trim());
    const peer = new PeerAuth(secret, "ia");
    const admin = forwardedOf({ kind: "admin", label: "admin", tokenId: null, tenant: null, actions: null });
    const send = (header: string, method = "GET", path = "/v1/instances", body?: unknown) =>
      fetch(`${b.d.url}${path}`, { method, headers: { "umld-fleet": header, ...(body ? { "content-type": "application/json" } : {}) }, body: body ? JSON.stringify(body) : undefined });
    assert.equal((await send("garbage")).status, 401);
    assert.equal((await send(new PeerAuth(Buffer.alloc(32, 7), "ia").sign("ib", "GET", "/v1/instances", null, admin))).status, 401, "another secret");
    const good = peer.sign("ib", "GET", "/v1/instances", null, admin);
    assert.equal((await send(good)).status, 200, "a valid signature");
    assert.equal((await send(good)).status, 401, "the same header again: a replay");
    assert.equal((await send(peer.sign("ib", "GET", "/v1/hosts", null, admin))).status, 401, "signed for another path");
    assert.equal((await send(peer.sign("ic", "GET", "/v1/instances", null, admin))).status, 401, "signed for another host");
    const signedBody = { name: "sneaky", memoryMiB: 32 };
    const r = await send(peer.sign("ib", "POST", "/v1/instances", JSON.stringify(signedBody), admin), "POST", "/v1/instances", { name: "sneaky", memoryMiB: 4096 });
    assert.equal(r.status, 401, "a body other than the one signed");
    assert.equal((await b.d.api("GET", "/v1/instances/sneaky")).status, 404);
  });

  it("a lost host's instances are listed by name as unreachable, never started elsewhere", async () => {
    await d("ib").kill("SIGKILL");
    await until("ib lost", async () => (await d("ia").client().call("listHosts")).hosts.find((h) => h.name === "ib" && h.state === "lost"));
    const list = await d("ia").client().call("listInstances");
    assert.deepEqual(list.unreachable, [{ host: "ib", instances: ["fw-b"] }]);
    const r = await d("ia").api("PUT", "/v1/instances/fw-b/state", { action: "start" });
    assert.equal(r.status, 503);
    assert.equal(r.body.error.code, "host_unreachable");
    assert.equal((await d("ia").api("POST", "/v1/instances", { name: "fw-b", memoryMiB: 32 })).status, 409, "its name stays its host's");
    await fleet.restart("ib");
  });
});
