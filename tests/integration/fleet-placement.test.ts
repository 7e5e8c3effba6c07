import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
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

// admission limits of a few hundred MiB each (MemTotal × a small --memory-overcommit), pb's the largest
const OVERCOMMIT: Record<string, number> = { pa: 1, pb: 3, pc: 2 };

describe("fleet placement: a create goes to the up host with the most free memory", { timeout: 300_000 }, () => {
  let fleet: TestFleet;
  let limit: Record<string, number>;
  before(async () => {
    const memTotalMiB = Math.floor(Number(/MemTotal:\s+(\d+)/.exec((await import("node:fs")).readFileSync("/proc/meminfo", "utf8"))![1]) / 1024);
    // pa's limit 240 MiB on any host: ratios scaled to this host's memory
    const unit = 240 / memTotalMiB;
    fleet = await TestFleet.start(["pa", "pb", "pc"], { extraArgs: (n) => ["--memory-overcommit", (OVERCOMMIT[n]! * unit).toFixed(6)] });
    const hosts = (await fleet.host("pa").d.client().call("listHosts")).hosts;
    limit = Object.fromEntries(hosts.map((h) => [h.name, h.memory!.limitMiB]));
    assert.ok(limit.pb! > limit.pc! && limit.pc! > limit.pa!, JSON.stringify(limit));
  });
  after(async () => fleet?.stop());
  const d = (n: string) => fleet.host(n).d;

  it("without a host: the one with the most free memory, whichever host was asked", async () => {
    for (const [i, asked] of ["pa", "pc"].entries()) {
      const v = await d(asked).create(`pl-${i}`, 64);
      assert.equal((await d("pa").get(v.name)).host, "pb");
    }
  });

  it("an instance too big for every host is refused with each host's free memory; one only the largest fits goes there", async () => {
    const big = await d("pa").api("POST", "/v1/instances", { name: "huge", memoryMiB: limit.pb! + 1 });
    assert.equal(big.status, 409);
    assert.equal(big.body.error.code, "no_host_fits");
    assert.equal(big.body.error.details.hosts.length, 3);
    const fits = await d("pa").api("POST", "/v1/instances", { name: "fits-pb", memoryMiB: limit.pc! + 1 });
    assert.equal(fits.status, 201, JSON.stringify(fits.body));
    assert.equal((await d("pb").get("fits-pb")).host, "pb");
    assert.equal((await d("pb").api("DELETE", "/v1/instances/fits-pb")).status, 200);
  });

  it("a running guest's memory counts: once pb commits it, placement looks at what is left", async () => {
    assert.equal((await d("pc").act("pl-0", "start")).status, 200);
    const pb = await until("pb's record to show the guest", async () => (await d("pa").client().call("listHosts")).hosts.find((h) => h.name === "pb" && h.memory!.committedMiB >= 64));
    assert.equal(pb.memory!.freeMiB, limit.pb! - pb.memory!.committedMiB);
    // more than pb has left but less than its limit, and more than pc's: no host fits
    const r = await d("pa").api("POST", "/v1/instances", { name: "now-too-big", memoryMiB: pb.memory!.freeMiB + 1 });
    assert.ok(pb.memory!.freeMiB + 1 > limit.pc!);
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, "no_host_fits");
    assert.equal((await d("pa").act("pl-0", "halt")).status, 200);
  });

  it("host in the create pins it (admins); a lost or unknown host is refused", async () => {
    const v = await d("pb")
      .client()
      .call("createInstance", { body: { name: "pinned", memoryMiB: 32, host: "pa" } });
    assert.equal(v.name, "pinned");
    assert.equal((await d("pc").get("pinned")).host, "pa");
    const unknown = await d("pb").api("POST", "/v1/instances", { name: "nowhere", memoryMiB: 32, host: "zz" });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, "host_not_found");
  });

  it("a tenant may not pin a host, and its quotas count its instances on every host", async () => {
    await d("pa")
      .client()
      .call("createTenant", { body: { name: "acme", quotas: { maxInstances: 2 } } });
    const tok = await d("pa")
      .client()
      .call("createToken", { params: { tenant: "acme" }, body: { name: "k", actions: ["read", "create", "delete"] } });
    await until("the token on pb", async () => (await d("pb").api("GET", "/v1/instances", undefined, { token: tok.token })).status === 200);
    const pin = await d("pb").api("POST", "/v1/instances", { name: "t0", memoryMiB: 32, host: "pa" }, { token: tok.token });
    assert.equal(pin.status, 403);
    // the admin puts one of acme's on pa; the tenant's creates are placed on pb
    assert.equal((await d("pa").api("POST", "/v1/instances", { name: "t1", memoryMiB: 32, host: "pa" }, { headers: { "umld-tenant": "acme" } })).status, 201);
    const second = await d("pc").api("POST", "/v1/instances", { name: "t2", memoryMiB: 32 }, { token: tok.token });
    assert.equal(second.status, 201, JSON.stringify(second.body));
    assert.equal((await d("pb").api("GET", "/v1/instances/t2", undefined, { token: tok.token })).body.host, "pb");
    const third = await d("pc").api("POST", "/v1/instances", { name: "t3", memoryMiB: 32 }, { token: tok.token });
    assert.equal(third.status, 409, JSON.stringify(third.body));
    assert.equal(third.body.error.code, "quota_exceeded");
    const list = await d("pa").api("GET", "/v1/instances", undefined, { token: tok.token });
    assert.deepEqual(list.body.instances.map((i: { name: string; host: string }) => [i.name, i.host]).sort(), [
      ["t1", "pa"],
      ["t2", "pb"],
    ]);
  });
});
