import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TestDaemon } from "../harness/daemon.js";

describe("API errors: documented codes, and nothing changes", { timeout: 120_000 }, () => {
  let d: TestDaemon;
  let snapshot: () => Promise<string>;
  before(async () => {
    d = await TestDaemon.start();
    await d.create("keep");
    snapshot = async () => JSON.stringify((await d.api("GET", "/v1/instances")).body.instances.map((i: any) => [i.name, i.state, i.memoryMiB]));
  });
  after(async () => {
    await d?.stop();
  });

  const expectError = (r: { status: number; body: any }, status: number, code: string) => {
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.equal(r.body.error.code, code);
    assert.equal(typeof r.body.error.message, "string");
    assert.ok(!JSON.stringify(r.body).includes("    at "), "never a stack trace");
  };

  it("a missing or wrong token is 401 on every route, and on WebSocket upgrades", async () => {
    const before = await snapshot();
    expectError(await d.api("GET", "/v1/instances", undefined, { token: null }), 401, "unauthorized");
    expectError(await d.api("POST", "/v1/instances", { name: "x" }, { token: "umld_wrong" }), 401, "unauthorized");
    expectError(await d.api("PUT", "/v1/instances/keep/state", { action: "start" }, { token: null }), 401, "unauthorized");
    expectError(await d.api("DELETE", "/v1/instances/keep", undefined, { token: null }), 401, "unauthorized");
    assert.equal(await d.upgradeStatus("/v1/events", null), 401);
    assert.equal(await d.upgradeStatus("/v1/instances/keep/console", "umld_wrong"), 401);
    assert.equal(await d.upgradeStatus("/v1/events"), 101);
    assert.equal(await snapshot(), before);
  });

  it("bad bodies are 400 invalid_request with the zod issues, and create nothing", async () => {
    const before = await snapshot();
    const cases: Array<[unknown, string]> = [
      [{}, "body.name"],
      [{ name: "UPPER" }, "body.name"],
      [{ name: "../etc" }, "body.name"],
      [{ name: "a,b=c" }, "body.name"],
      [{ name: "x".repeat(64) }, "body.name"],
      [{ name: "ok-name", memoryMiB: 16 }, "body.memoryMiB"],
      [{ name: "ok-name", memoryMiB: "64" }, "body.memoryMiB"],
      [{ name: "ok-name", memoryMiB: 64.5 }, "body.memoryMiB"],
      [{ name: "ok-name", extra: 1 }, "body"],
      [{ name: "ok-name", bootOptions: ["init=/bin/sh"] }, "body.bootOptions.0"],
      [{ name: "ok-name", bootOptions: ["quiet ubd1=/etc/shadow"] }, "body.bootOptions.0"],
      [{ name: "ok-name", image: "../../x" }, "body.image"],
    ];
    for (const [body, path] of cases) {
      const r = await d.api("POST", "/v1/instances", body);
      expectError(r, 400, "invalid_request");
      assert.ok(
        r.body.error.details.issues.some((i: any) => i.path === path || i.path.startsWith(path)),
        `${JSON.stringify(body)} → ${JSON.stringify(r.body.error.details)}`,
      );
    }
    expectError(await d.api("POST", "/v1/instances", undefined, { raw: "{not json" }), 400, "invalid_request");
    expectError(await d.api("POST", "/v1/instances", undefined, { raw: "name=x", contentType: "application/x-www-form-urlencoded" }), 415, "unsupported_media_type");
    expectError(await d.api("POST", "/v1/instances", { name: "big", pad: "x".repeat(100_000) }), 413, "payload_too_large");
    expectError(await d.api("PUT", "/v1/instances/keep/state", { action: "explode" }), 400, "invalid_request");
    expectError(await d.api("PUT", "/v1/instances/keep/state", { action: "start", timeoutS: -1 }), 400, "invalid_request");
    expectError(await d.api("GET", "/v1/instances/Bad_Name"), 400, "invalid_request");
    assert.equal(await snapshot(), before);
  });

  it("unknown names are 404, unknown images and kernels too", async () => {
    const before = await snapshot();
    expectError(await d.api("GET", "/v1/instances/nope"), 404, "instance_not_found");
    expectError(await d.api("PUT", "/v1/instances/nope/state", { action: "start" }), 404, "instance_not_found");
    expectError(await d.api("DELETE", "/v1/instances/nope"), 404, "instance_not_found");
    expectError(await d.api("POST", "/v1/instances", { name: "img-x", image: "no-such-image" }), 404, "image_not_found");
    expectError(await d.api("POST", "/v1/instances", { name: "krn-x", kernel: "no-such-kernel" }), 404, "kernel_not_found");
    expectError(await d.api("GET", "/v1/operations/op-0000000000000000"), 404, "operation_not_found");
    expectError(await d.api("GET", "/v1/nothing-here"), 404, "route_not_found");
    assert.equal(await d.upgradeStatus("/v1/instances/nope/console"), 404);
    assert.equal(await d.upgradeStatus("/v1/instances/Bad_Name/console"), 400);
    assert.equal(await snapshot(), before);
  });

  it("actions not valid in the current state are 409 naming both; duplicates are 409", async () => {
    const before = await snapshot();
    for (const action of ["shutdown", "halt", "reboot", "pause", "resume"]) {
      const r = await d.act("keep", action);
      expectError(r, 409, "invalid_state");
      assert.deepEqual(r.body.error.details, { state: "stopped", action });
      assert.match(r.body.error.message, new RegExp(`${action}.*stopped`));
    }
    expectError(await d.api("POST", "/v1/instances", { name: "keep" }), 409, "instance_exists");
    assert.equal(await snapshot(), before);
  });

  it("start while running and resume while running are 409 with a real guest; wait=false gives an operation", async () => {
    const r = await d.act("keep", "start", { wait: false });
    assert.equal(r.status, 202);
    assert.equal(r.body.operation.status, "running");
    const busy = await d.act("keep", "start");
    assert.equal(busy.status, 409);
    assert.ok(["instance_busy", "invalid_state"].includes(busy.body.error.code));
    await d.waitEvent((e) => e.type === "operation" && e.operation.id === r.body.operation.id && e.operation.status !== "running", 30_000);
    const op = await d.api("GET", `/v1/operations/${r.body.operation.id}`);
    assert.equal(op.body.status, "succeeded");
    const again = await d.act("keep", "start");
    expectError(again, 409, "invalid_state");
    assert.deepEqual(again.body.error.details, { state: "running", action: "start" });
    expectError(await d.act("keep", "resume"), 409, "invalid_state");
    assert.equal((await d.get("keep")).state, "running");
    await d.mustAct("keep", "halt");
  });

  it("health and version answer", async () => {
    const h = await d.api("GET", "/v1/health");
    assert.equal(h.body.status, "ok");
    const v = await d.api("GET", "/v1/version");
    assert.equal(v.body.protocolVersion, 1);
    assert.ok(v.body.capabilities.includes("console-websocket"));
    const k = await d.api("GET", "/v1/kernels");
    assert.match(k.body.kernels[0].version, /^\d+\.\d+/);
    assert.match(k.body.kernels[0].sha256, /^[0-9a-f]{64}$/);
    const i = await d.api("GET", "/v1/images");
    assert.equal(i.body.images[0].name, "busybox");
  });
});
