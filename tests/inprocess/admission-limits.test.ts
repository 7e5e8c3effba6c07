import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { InProcessDaemon } from "../harness/in-process.js";

const memTotalMiB = Math.floor(Number(/MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))![1]) / 1024);

/**
 * Host admission, limits and memoryReclaim through routes, commands and core
 * with fake supervisors; the same on real guests and cgroups is in
 * tests/integration/memory-reclaim.test.ts and limits.test.ts.
 */
describe("admission and limits in process", () => {
  let d: InProcessDaemon;
  before(async () => {
    // a ratio that lets this host commit ~200 MiB of guest memory, whatever its size
    d = await InProcessDaemon.start({ args: ["--memory-overcommit", (200 / memTotalMiB).toFixed(6)] });
  });
  after(() => d.stop());

  it("starts racing for the last room: exactly one is admitted, the other gets host_memory_exhausted with the figures and stays as it was", async () => {
    for (const n of ["a", "b", "c"]) assert.equal((await d.api("POST", "/v1/instances", { name: n, memoryMiB: 96 })).status, 201);
    assert.equal((await d.api("PUT", "/v1/instances/a/state", { action: "start" })).status, 200);
    const count = (await d.api("GET", "/v1/instances")).body.instances.length;
    const tries = await Promise.all(["b", "c"].map((n) => d.api("PUT", `/v1/instances/${n}/state`, { action: "start" })));
    assert.deepEqual(tries.map((r) => r.status).sort(), [200, 409]);
    const refused = tries.find((r) => r.status === 409)!;
    assert.equal(refused.body.error.code, "host_memory_exhausted");
    const f = refused.body.error.details;
    assert.deepEqual([f.committedMiB, f.requestedMiB, f.overcommit < 1], [192, 96, true], JSON.stringify(f));
    assert.ok(f.limitMiB >= 195 && f.limitMiB <= 200 && f.hostMemTotalMiB === memTotalMiB, JSON.stringify(f));
    const loser = tries[0]!.status === 409 ? "b" : "c";
    const view = (await d.api("GET", `/v1/instances/${loser}`)).body;
    assert.deepEqual([view.state, view.pid, view.bootCount], ["stopped", null, 0]);
    assert.equal((await d.api("GET", "/v1/instances")).body.instances.length, count, "nothing made");
    // what a halted guest frees is what the next start may take
    assert.equal((await d.api("PUT", "/v1/instances/a/state", { action: "halt" })).status, 200);
    assert.equal((await d.api("PUT", `/v1/instances/${loser}/state`, { action: "start" })).status, 200);
    for (const n of ["a", "b", "c"]) assert.equal((await d.api("DELETE", `/v1/instances/${n}?force=true`)).status, 200);
  });

  it("memoryReclaim and limits are taken on create and PATCH, shown in the view; bad ones are refused naming the field, changing nothing", async () => {
    const r = await d.api("POST", "/v1/instances", { name: "l", memoryMiB: 64, memoryReclaim: "auto", limits: { cpuWeight: 300, pids: 100 } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.memoryReclaim, "auto");
    assert.deepEqual(r.body.limits, { cpus: null, cpuWeight: 300, ioWeight: null, pids: 100, netMbit: null });
    assert.ok(r.body.cpuSeconds === null || r.body.cpuSeconds === 0, `a guest that never ran used no CPU: ${r.body.cpuSeconds}`);
    const p = await d.api("PATCH", "/v1/instances/l", { memoryReclaim: "off", limits: { cpuWeight: null, cpus: 0.5 } });
    assert.equal(p.status, 200, JSON.stringify(p.body));
    assert.equal(p.body.instance.memoryReclaim, "off");
    assert.deepEqual(p.body.instance.limits, { cpus: 0.5, cpuWeight: null, ioWeight: null, pids: 100, netMbit: null }, "a field left out stays, null lifts it");
    for (const [limits, path] of [
      [{ cpus: 0 }, "body.limits.cpus"],
      [{ cpus: 4096 }, "body.limits.cpus"],
      [{ ioWeight: 0 }, "body.limits.ioWeight"],
      [{ pids: 1 }, "body.limits.pids"],
      [{ cpus: 0.2, pids: 100_000 }, "body.limits.pids"],
    ] as const) {
      const bad = await d.api("PATCH", "/v1/instances/l", { limits });
      assert.deepEqual([bad.status, bad.body.error.code], [400, "invalid_request"], JSON.stringify(limits));
      assert.ok(JSON.stringify(bad.body.error.details).includes(path), `${JSON.stringify(limits)} names ${path}`);
    }
    const reclaim = await d.api("PATCH", "/v1/instances/l", { memoryReclaim: "sometimes" });
    assert.equal(reclaim.status, 400);
    const now = (await d.api("GET", "/v1/instances/l")).body;
    assert.deepEqual([now.memoryReclaim, now.limits], ["off", { cpus: 0.5, cpuWeight: null, ioWeight: null, pids: 100, netMbit: null }], "nothing changed");
  });

  it("a tenant's guest cannot be given more CPU than its tenant's maxCpus", async () => {
    const acme = await d.tenant("acme", undefined, { maxCpus: 0.5 });
    const over = await d.api("POST", "/v1/instances", { name: "t", limits: { cpus: 1 } }, { token: acme });
    assert.deepEqual([over.status, over.body.error.code, over.body.error.details], [409, "quota_exceeded", { quota: "maxCpus", limit: 0.5, requested: 1 }]);
    assert.equal((await d.api("GET", "/v1/instances/t", undefined, { token: acme })).status, 404, "not created");
    assert.equal((await d.api("POST", "/v1/instances", { name: "t", limits: { cpus: 0.5 } }, { token: acme })).status, 201);
    const patch = await d.api("PATCH", "/v1/instances/t", { limits: { cpus: 0.6 } }, { token: acme });
    assert.deepEqual([patch.status, patch.body.error.code], [409, "quota_exceeded"]);
    assert.equal((await d.api("GET", "/v1/tenants/acme")).body.quotas.maxCpus, 0.5);
  });
});
