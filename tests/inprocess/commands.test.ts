import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { InProcessDaemon } from "../harness/in-process.js";

/**
 * Routes, the command layer and core with a fake supervisor behind each
 * guest: what a request changes and what it answers, without UML. The same
 * behaviours with real guests are in tests/integration/.
 */
describe("commands in process: lifecycle, operations and errors", () => {
  let d: InProcessDaemon;
  before(async () => {
    d = await InProcessDaemon.start();
  });
  after(() => d.stop());

  const state = async (name: string) => (await d.api("GET", `/v1/instances/${name}`)).body as { state: string; ready: boolean; pid: number | null };

  it("create, start, pause, resume, reboot, shut down and delete go through the supervisor and show in the view", async () => {
    assert.equal((await d.api("POST", "/v1/instances", { name: "a", memoryMiB: 64 })).status, 201);
    assert.equal((await state("a")).state, "stopped");
    const start = await d.api("PUT", "/v1/instances/a/state", { action: "start" });
    assert.equal(start.status, 200, JSON.stringify(start.body));
    assert.equal(start.body.operation.status, "succeeded");
    const running = await state("a");
    assert.deepEqual([running.state, running.ready], ["running", true]);
    assert.equal((await d.api("PUT", "/v1/instances/a/state", { action: "pause" })).status, 200);
    assert.equal((await state("a")).state, "paused");
    assert.equal((await d.api("PUT", "/v1/instances/a/state", { action: "resume" })).status, 200);
    const reboot = await d.api("PUT", "/v1/instances/a/state", { action: "reboot" });
    assert.equal(reboot.status, 200, JSON.stringify(reboot.body));
    const after = await state("a");
    assert.equal(after.state, "running");
    assert.notEqual(after.pid, running.pid, "a reboot is a new process");
    assert.equal((await d.api("PUT", "/v1/instances/a/state", { action: "shutdown" })).status, 200);
    assert.equal((await state("a")).state, "stopped");
    assert.equal((await d.api("DELETE", "/v1/instances/a")).status, 200);
    assert.equal((await d.api("GET", "/v1/instances/a")).body.error.code, "instance_not_found");
  });

  it("an action the state does not allow is 409 invalid_state and changes nothing", async () => {
    await d.api("POST", "/v1/instances", { name: "b", memoryMiB: 64 });
    for (const action of ["pause", "resume", "shutdown", "reboot"]) {
      const r = await d.api("PUT", "/v1/instances/b/state", { action });
      assert.deepEqual([r.status, r.body.error.code], [409, "invalid_state"], action);
    }
    assert.equal((await state("b")).state, "stopped");
    await d.api("PUT", "/v1/instances/b/state", { action: "start" });
    const del = await d.api("DELETE", "/v1/instances/b");
    assert.deepEqual([del.status, del.body.error.code], [409, "instance_running"]);
    assert.equal((await d.api("DELETE", "/v1/instances/b?force=true")).status, 200);
  });

  it("wait=false answers 202 with the running operation, which then succeeds", async () => {
    await d.api("POST", "/v1/instances", { name: "c", memoryMiB: 64 });
    const r = await d.api("PUT", "/v1/instances/c/state", { action: "start", wait: false });
    assert.equal(r.status, 202);
    const id = r.body.operation.id as string;
    let op = r.body.operation;
    for (let i = 0; i < 100 && op.status === "running"; i++) {
      await new Promise((res) => setTimeout(res, 10));
      op = (await d.api("GET", `/v1/operations/${id}`)).body;
    }
    assert.equal(op.status, "succeeded");
    assert.equal((await state("c")).state, "running");
  });

  it("live memory is set through mconsole and the guest's own view answers it", async () => {
    await d.api("POST", "/v1/instances", { name: "m", memoryMiB: 64, maxMemoryMiB: 128 });
    await d.api("PUT", "/v1/instances/m/state", { action: "start" });
    const r = await d.api("PATCH", "/v1/instances/m", { memoryMiB: 96 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((await d.api("GET", "/v1/instances/m")).body.memoryMiB, 96);
  });

  it("bad input gets a registered code and changes nothing", async () => {
    const before = (await d.api("GET", "/v1/instances")).body.instances.length;
    const cases: Array<[string, string, unknown, number, string]> = [
      ["POST", "/v1/instances", { name: "UPPER", memoryMiB: 64 }, 400, "invalid_request"],
      ["POST", "/v1/instances", { name: "x", memoryMiB: 64, bootOptions: ["ubdb=/etc/shadow"] }, 400, "invalid_request"],
      ["POST", "/v1/instances", { name: "x", memoryMiB: 64, image: "nope" }, 404, "image_not_found"],
      ["PUT", "/v1/instances/nope/state", { action: "start" }, 404, "instance_not_found"],
      ["PUT", "/v1/instances/c/state", { action: "fly" }, 400, "invalid_request"],
      ["GET", "/v1/nowhere", undefined, 404, "route_not_found"],
      // the router's own refusals: a path segment past its limit, a broken %-encoding
      ["DELETE", `/v1/networks/n/forwards/tcp/${"A".repeat(300)}`, undefined, 400, "invalid_request"],
      ["GET", `/v1/instances/${"a".repeat(300)}`, undefined, 400, "invalid_request"],
      ["GET", "/v1/instances/%E0%A4%A", undefined, 400, "invalid_request"],
    ];
    for (const [method, path, body, status, code] of cases) {
      const r = await d.api(method, path, body);
      assert.deepEqual([r.status, r.body.error.code], [status, code], `${method} ${path} ${JSON.stringify(body)}`);
    }
    const anon = await d.api("GET", "/v1/instances", undefined, { token: null });
    assert.deepEqual([anon.status, anon.body.error.code], [401, "unauthorized"]);
    assert.equal((await d.api("GET", "/v1/instances")).body.instances.length, before);
  });

  it("the typed client speaks the same contract", async () => {
    const c = d.client();
    const v = await c.call("createInstance", { body: { name: "typed", memoryMiB: 64 } });
    assert.equal(v.name, "typed");
    const list = await c.call("listInstances", {});
    assert.ok(list.instances.some((i) => i.name === "typed"));
  });
});
