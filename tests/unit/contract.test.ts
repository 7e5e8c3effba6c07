import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { contract, ROUTE_NAMES, routeScopes, websockets, type RouteDef } from "../../protocol/contract.js";
import { matchRoute } from "../../protocol/paths.js";
import { ErrorBody, ERRORS } from "../../protocol/errors.js";
import { CAPABILITIES } from "../../protocol/version.js";
import { serialize } from "../../daemon/http/register.js";
import { assertConforms } from "../harness/daemon.js";

describe("the contract: every route with its answers per status", () => {
  it("every route answers its success status (and 202 when waitable) and ErrorBody for registered error statuses only", () => {
    const errorStatuses = new Set(Object.values(ERRORS).map((e) => e.status));
    for (const name of ROUTE_NAMES) {
      const def: RouteDef = contract[name];
      assert.equal(def.responses[def.status], def.response, name);
      assert.equal(def.responses[202] !== undefined, def.waitable === true, name);
      for (const [status, schema] of Object.entries(def.responses)) {
        if (Number(status) < 400) continue;
        assert.ok(errorStatuses.has(Number(status) as never), `${name} ${status}`);
        assert.equal(schema, ErrorBody, `${name} ${status}`);
      }
      for (const s of [400, 401, 403, 404, 429, 500]) assert.ok(def.responses[s], `${name} ${s}`);
      if (def.body) for (const s of [413, 415]) assert.ok(def.responses[s], `${name} ${s}`);
      assert.ok(routeScopes[name], name);
    }
    assert.ok(CAPABILITIES.includes("openapi"));
  });

  it("no two routes share a method and path; a concrete path finds its route and parameters", () => {
    const seen = new Set<string>();
    for (const name of ROUTE_NAMES) {
      const key = `${contract[name].method} ${contract[name].path.replace(/:\w+/g, ":")}`;
      assert.ok(!seen.has(key), key);
      seen.add(key);
    }
    assert.deepEqual(matchRoute("PUT", "/v1/instances/acme.web/state")?.params, { name: "acme.web" });
    assert.equal(matchRoute("PUT", "/v1/instances/web/state")?.name, "changeState");
    assert.equal(matchRoute("DELETE", "/v1/instances/web/disks/ubdb")?.name, "detachDisk");
    assert.equal(matchRoute("GET", "/v1/instances/web/state"), null);
    assert.equal(matchRoute("GET", "/v1/nope"), null);
    assert.equal(matchRoute("GET", "/v1/instances/"), null);
    for (const w of Object.values(websockets)) assert.equal(matchRoute("GET", `/v1${w.path.replace(":name", "web")}`), null, w.path);
  });

  it("the daemon serializes an answer by its status's schema: unnamed fields dropped, a broken answer a 500 naming the field", () => {
    const def: RouteDef = contract.deleteInstance;
    assert.deepEqual(serialize("deleteInstance", def, 200, { deleted: "web", internal: "/var/lib/umld/x" }), { deleted: "web" });
    assert.throws(
      () => serialize("deleteInstance", def, 200, { deleted: 1 }),
      (e: { code?: string; details?: { issues?: Array<{ path: string }> } }) => e.code === "internal" && e.details?.issues?.[0]?.path === "deleted",
    );
    assert.throws(
      () => serialize("deleteInstance", def, 202, { deleted: "web" }),
      (e: { code?: string }) => e.code === "internal",
    );
  });

  it("the integration harness refuses answers outside the contract", () => {
    const version = { protocolVersion: 1, daemonVersion: "0.1.0", capabilities: [] };
    assertConforms("GET", "/v1/version", { status: 200, body: version });
    assertConforms("GET", "/v1/instances/nope?x=1", { status: 404, body: { error: { code: "instance_not_found", message: "no" } } });
    assertConforms("GET", "/v1/no/such/route", { status: 404, body: { error: { code: "route_not_found", message: "no" } } });
    assert.throws(() => assertConforms("GET", "/v1/version", { status: 200, body: { ...version, protocolVersion: "1" } }), /protocolVersion/);
    assert.throws(() => assertConforms("GET", "/v1/version", { status: 409, body: { error: { code: "instance_busy", message: "x" } } }), /status 409/);
    assert.throws(() => assertConforms("GET", "/v1/instances/web", { status: 404, body: { error: { code: "no_such_code", message: "x" } } }), /does not match/);
    assert.throws(() => assertConforms("GET", "/v1/no/such/route", { status: 200, body: {} }), /not an error body/);
  });
});
