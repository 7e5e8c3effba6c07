import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { InProcessDaemon } from "../harness/in-process.js";

type Item = { name: string; ok: boolean; operation: { id: string; status: string } | null; error: { code: string; message: string } | null };
const byName = (results: Item[]) => Object.fromEntries(results.map((r) => [r.name, r.ok ? "ok" : r.error!.code]));

/** POST /v1/instances/actions: one action on many instances, each answered on its own, each as its own command. */
describe("bulk actions in process", () => {
  let d: InProcessDaemon;
  let acme: string;
  let bob: string;
  const bulk = (body: unknown, token?: string) => d.api("POST", "/v1/instances/actions", body, { token });
  const state = async (name: string) => (await d.api("GET", `/v1/instances/${name}`)).body.state as string;
  before(async () => {
    d = await InProcessDaemon.start({ args: ["--boot-concurrency", "2"] });
    acme = await d.tenant("acme");
    bob = await d.tenant("bob");
    for (const n of ["a-1", "a-2", "b-1"]) assert.equal((await d.api("POST", "/v1/instances", { name: n, memoryMiB: 32 })).status, 201);
    assert.equal((await d.api("POST", "/v1/instances", { name: "web", memoryMiB: 32 }, { token: acme })).status, 201);
    for (const n of ["web", "db"]) assert.equal((await d.api("POST", "/v1/instances", { name: n, memoryMiB: 32 }, { token: bob })).status, 201);
  });
  after(() => d.stop());

  it("refuses a malformed request with a 400 and changes nothing", async () => {
    const names = Array.from({ length: 1001 }, (_, i) => `n-${i}`);
    for (const body of [
      { action: "start" },
      { action: "start", names: ["a-1"], selector: {} },
      { action: "start", names: [] },
      { action: "start", names },
      { action: "start", names: ["a-1", "a-1"] },
      { action: "upgrade", names: ["a-1"] },
      { action: "start", selector: { namePrefix: "A_" } },
      { action: "start", selector: { colour: "red" } },
    ]) {
      const r = await bulk(body);
      assert.deepEqual([r.status, r.body.error.code], [400, "invalid_request"], JSON.stringify(body).slice(0, 80));
    }
    assert.equal(await state("a-1"), "stopped");
  });

  it("answers each instance: one missing or in the wrong state does not fail the rest", async () => {
    const r = await bulk({ action: "start", names: ["a-1", "nothing", "a-2"], wait: true });
    assert.equal(r.status, 200);
    assert.deepEqual(byName(r.body.results), { "a-1": "ok", nothing: "instance_not_found", "a-2": "ok" });
    assert.deepEqual([r.body.succeeded, r.body.failed], [2, 1]);
    assert.equal(r.body.results[0].operation.status, "succeeded");
    assert.deepEqual([await state("a-1"), await state("a-2")], ["running", "running"]);
    const again = await bulk({ action: "pause", names: ["a-1", "b-1"] });
    assert.deepEqual(byName(again.body.results), { "a-1": "ok", "b-1": "invalid_state" });
  });

  it("a selector picks what the caller sees, by state and name prefix, where the action applies", async () => {
    const r = await bulk({ action: "halt", selector: { namePrefix: "a-" }, wait: true });
    assert.deepEqual(byName(r.body.results), { "a-1": "ok", "a-2": "ok" }, "b-1 (stopped) is not halted, nor picked");
    const starts = await bulk({ action: "start", selector: { state: "stopped", namePrefix: "b-" } });
    assert.deepEqual(byName(starts.body.results), { "b-1": "ok" }, "an admin's prefix applies to stored names: bob.web is not b-*");
    assert.equal(starts.body.results[0].operation.status, "running", "wait false: answered once accepted");
    await d.services.operations.wait(starts.body.results[0].operation.id);
    assert.equal(await state("b-1"), "running");
    await bulk({ action: "halt", names: ["b-1"], wait: true });
  });

  it("a tenant acts on its own guests only: another's name is as missing as no name, a selector never reaches past its namespace", async () => {
    const byNames = await bulk({ action: "start", names: ["web", "db", "bob.web", "nothing"], wait: true }, acme);
    assert.deepEqual(byName(byNames.body.results), { web: "ok", db: "instance_not_found", "bob.web": "instance_not_found", nothing: "instance_not_found" });
    const msg = (n: string) => byNames.body.results.find((x: Item) => x.name === n).error.message.replace(n, "X");
    assert.equal(msg("db"), msg("nothing"), "the same answer as for a name never used");
    assert.ok(!JSON.stringify(byNames.body).includes("acme."), "names are the tenant's own");
    assert.deepEqual([await state("bob.web"), await state("bob.db")], ["stopped", "stopped"]);

    const all = await bulk({ action: "halt", selector: {}, wait: true }, acme);
    assert.deepEqual(byName(all.body.results), { web: "ok" });
    const starts = await bulk({ action: "start", selector: {} }, acme);
    assert.deepEqual(byName(starts.body.results), { web: "ok" }, "bob's stopped guests are not the tenant's to select");
    await d.services.operations.wait(starts.body.results[0].operation.id);
    const other = await bulk({ action: "start", selector: { tenant: "bob" } }, acme);
    assert.deepEqual([other.status, other.body.error.code], [403, "forbidden"]);
    assert.equal(await state("bob.web"), "stopped");

    const admin = await bulk({ action: "halt", selector: { tenant: "acme" }, wait: true });
    assert.deepEqual(byName(admin.body.results), { "acme.web": "ok" }, "an admin selects a tenant's guests by tenant");
  });

  it("a token's rights apply to each item: reading is not acting, reboot alone may start but not halt", async () => {
    const reader = await d.tenant("acme", ["read"]);
    const r = await bulk({ action: "start", names: ["web"] }, reader);
    assert.deepEqual([r.status, r.body.error.code], [403, "forbidden"]);
    const rebooter = await d.tenant("acme", ["read", "reboot"]);
    const start = await bulk({ action: "start", names: ["web"], wait: true }, rebooter);
    assert.deepEqual(byName(start.body.results), { web: "ok" });
    const halt = await bulk({ action: "halt", names: ["web"] }, rebooter);
    assert.deepEqual([halt.status, halt.body.error.code], [403, "forbidden"]);
    assert.equal(await state("acme.web"), "running");
    await bulk({ action: "halt", names: ["acme.web"], wait: true });
  });

  it("starts beyond --boot-concurrency wait, say so, and a halt or delete cancels one before it boots", async () => {
    const slots = [await d.services.instances.boots.enter("x", "", () => {}), await d.services.instances.boots.enter("y", "", () => {})]; // both slots taken
    try {
      const r = await bulk({ action: "start", names: ["a-1", "a-2"] });
      assert.deepEqual(byName(r.body.results), { "a-1": "ok", "a-2": "ok" });
      const view = (await d.api("GET", "/v1/instances/a-1")).body;
      assert.deepEqual([view.state, view.busy], ["stopped", "start (queued)"]);
      const op = (await d.api("GET", `/v1/operations/${r.body.results[0].operation.id}`)).body;
      assert.deepEqual([op.status, op.progress?.step], ["running", "queued"]);
      const busy = await d.api("PUT", "/v1/instances/a-1/state", { action: "reboot" });
      assert.deepEqual([busy.status, busy.body.error.code], [409, "instance_busy"]);

      const halt = await d.api("PUT", "/v1/instances/a-1/state", { action: "halt" });
      assert.equal(halt.status, 200);
      assert.equal(halt.body.instance.state, "stopped");
      const cancelled = (await d.api("GET", `/v1/operations/${op.id}`)).body;
      assert.deepEqual([cancelled.status, cancelled.error.code], ["failed", "operation_cancelled"]);
      assert.equal((await d.api("GET", "/v1/instances/a-1")).body.busy, null);

      assert.equal((await d.api("POST", "/v1/instances", { name: "gone", memoryMiB: 32 })).status, 201);
      const queued = await d.api("PUT", "/v1/instances/gone/state", { action: "start", wait: false });
      assert.equal(queued.status, 202);
      assert.equal((await d.api("DELETE", "/v1/instances/gone")).status, 200, "a queued start does not keep a delete waiting");
      assert.equal((await d.api("GET", `/v1/operations/${queued.body.operation.id}`)).body.error.code, "operation_cancelled");
    } finally {
      for (const leave of slots) leave();
    }
    const a2 = (await d.api("GET", "/v1/instances/a-2")).body;
    for (let i = 0; i < 50 && (await state("a-2")) !== "running"; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await state("a-2"), "running", `the queued start ran once a slot was free (was ${a2.state}, ${a2.busy})`);
    assert.equal(await state("a-1"), "stopped", "the cancelled one never did");
    await bulk({ action: "halt", names: ["a-2"], wait: true });
  });
});
