import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ApiError, ProtocolError, UmldClient, type HttpRequest, type HttpResponse } from "../../client/index.js";

/** A transport that records requests and answers from a script: the client needs nothing else. */
function fake(answer: (r: HttpRequest) => HttpResponse): { client: UmldClient; sent: HttpRequest[] } {
  const sent: HttpRequest[] = [];
  const client = new UmldClient({
    token: "tok",
    tenant: "acme",
    transport: async (r) => {
      sent.push(r);
      return answer(r);
    },
  });
  return { client, sent };
}

const op = { id: "op-0123456789abcdef", kind: "instance.start", target: "web", status: "running", error: null, result: null, progress: null, createdAt: "t", finishedAt: null };

describe("client/: typed calls over an injected transport", () => {
  it("sends the route's method, filled path, query and JSON body with the token and tenant headers", async () => {
    const { client, sent } = fake(() => ({ status: 200, text: JSON.stringify({ deleted: "web 1" }) }));
    const r = await client.call("deleteInstance", { params: { name: "web/1" }, query: { force: "true" } });
    assert.deepEqual(r, { deleted: "web 1" });
    assert.equal(sent[0]!.method, "DELETE");
    assert.equal(sent[0]!.path, "/v1/instances/web%2F1?force=true");
    assert.equal(sent[0]!.headers.authorization, "Bearer tok");
    assert.equal(sent[0]!.headers["umld-tenant"], "acme");
    assert.equal(sent[0]!.body, undefined);
    await client.call("createTenant", { body: { name: "x" } }).catch(() => {});
    assert.deepEqual(JSON.parse(sent[1]!.body!), { name: "x" });
    assert.equal(sent[1]!.headers["content-type"], "application/json");
  });

  it("parses answers by the route's schema for their status, dropping fields the contract does not name", async () => {
    const { client } = fake(() => ({ status: 200, text: JSON.stringify({ protocolVersion: 1, daemonVersion: "0.1.0", capabilities: ["x"], secret: "no" }) }));
    assert.deepEqual(await client.call("version"), { protocolVersion: 1, daemonVersion: "0.1.0", capabilities: ["x"] });
  });

  it("gives the status of a waitable route's 202", async () => {
    const { client } = fake(() => ({ status: 202, text: JSON.stringify({ operation: op, image: null }) }));
    const r = await client.request("buildImage", { body: { name: "b", recipe: "busybox", wait: false } });
    assert.equal(r.status, 202);
    assert.equal(r.body.operation.status, "running");
  });

  it("throws refusals as ApiError with the registry's code, status and details", async () => {
    const { client } = fake(() => ({ status: 404, text: JSON.stringify({ error: { code: "instance_not_found", message: "no instance named 'x'", details: { name: "x" } } }) }));
    await assert.rejects(client.call("getInstance", { params: { name: "x" } }), (e: unknown) => {
      assert.ok(ApiError.is(e, "instance_not_found"));
      assert.equal(e.status, 404);
      assert.deepEqual(e.details, { name: "x" });
      return true;
    });
  });

  it("throws ProtocolError for an answer outside the contract: a wrong body, an undeclared status, non-JSON", async () => {
    for (const [status, text] of [
      [200, JSON.stringify({ protocolVersion: "one" })],
      [302, "{}"],
      [200, "<html>"],
    ] as const) {
      const { client } = fake(() => ({ status, text }));
      await assert.rejects(client.call("version"), (e: unknown) => e instanceof ProtocolError && e.status === status, `${status} ${text}`);
    }
  });
});
