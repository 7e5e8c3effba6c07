import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { ApiError } from "../../client/index.js";
import { REPO, TestDaemon } from "../harness/daemon.js";

describe("GET /v1/openapi.json", { timeout: 120_000 }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await TestDaemon.start();
  });
  after(async () => {
    await d?.stop();
  });

  it("serves the committed docs/openapi.json to any authenticated principal, and nothing without a token", async () => {
    const committed: unknown = JSON.parse(readFileSync(`${REPO}docs/openapi.json`, "utf8"));
    assert.deepEqual(await d.client().call("openapi"), committed);
    await d.client().call("createTenant", { body: { name: "acme" } });
    const { token } = await d.client().call("createToken", { params: { tenant: "acme" }, body: { name: "read-only", actions: ["read"] } });
    assert.deepEqual(await d.client(token).call("openapi"), committed, "a tenant token with the least rights reads it too");
    await assert.rejects(d.client(null).call("openapi"), (e: unknown) => ApiError.is(e, "unauthorized") && e.status === 401);
    assert.ok((await d.client().call("version")).capabilities.includes("openapi"));
  });
});
