import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import { contract, ROUTE_NAMES, websockets, type RouteDef } from "../../protocol/contract.js";
import { openApiDocument } from "../../protocol/openapi.js";
import { openApiJson } from "../../scripts/protocol-doc.js";
import { REPO } from "../harness/daemon.js";

const openApiPath = (def: { path: string; unversioned?: true }) => `${def.unversioned ? "" : "/v1"}${def.path.replace(/:(\w+)/g, "{$1}")}`;

describe("the OpenAPI document generated from the contract", () => {
  it("docs/openapi.json is the generated document (npm run openapi writes it)", () => {
    assert.equal(readFileSync(`${REPO}docs/openapi.json`, "utf8"), openApiJson(), "run npm run openapi and commit docs/openapi.json");
  });

  it("passes an external OpenAPI 3.1 validator, and every $ref resolves", async () => {
    const v = new Validator();
    const r = await v.validate(openApiDocument());
    assert.equal(v.version, "3.1");
    assert.ok(r.valid, JSON.stringify(r.errors, null, 2)?.slice(0, 3000));
    assert.doesNotThrow(() => v.resolveRefs());
  });

  it("the validator does refuse a broken document (a response without a description, an unknown field)", async () => {
    const broken = structuredClone(openApiDocument()) as { paths: Record<string, Record<string, { responses: Record<string, Record<string, unknown>> }>> };
    delete broken.paths["/v1/instances"]!.get!.responses["200"]!.description;
    assert.equal((await new Validator().validate(broken)).valid, false);
    const unknown = { ...openApiDocument(), paths: { "/v1/x": { get: { responses: { "200": { description: "x" } }, bogus: 1 } } } };
    assert.equal((await new Validator().validate(unknown)).valid, false);
  });

  it("covers every route with every status it declares, request body and path parameters, and both WebSockets as GET with 101", () => {
    const doc = openApiDocument() as {
      paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown>; requestBody?: unknown; parameters?: Array<{ name: string; in: string }> }>>;
    };
    let operations = 0;
    for (const name of ROUTE_NAMES) {
      const def: RouteDef = contract[name];
      const op = doc.paths[openApiPath(def)]?.[def.method.toLowerCase()];
      assert.ok(op, `${def.method} ${def.path}`);
      assert.equal(op.operationId, name);
      assert.deepEqual(Object.keys(op.responses).sort(), Object.keys(def.responses).sort(), name);
      assert.equal(op.requestBody !== undefined, def.body !== undefined, name);
      const ok = (op.responses[String(def.status)] as { content: Record<string, unknown> }).content;
      assert.deepEqual(Object.keys(ok), [def.contentType ?? "application/json"], `${name}: the success answer's media type`);
      const pathParams = [...def.path.matchAll(/:(\w+)/g)].map((m) => m[1]);
      assert.deepEqual(op.parameters?.filter((p) => p.in === "path").map((p) => p.name) ?? [], pathParams, name);
      operations++;
    }
    for (const ws of Object.values(websockets)) {
      const op = doc.paths[openApiPath(ws)]?.get;
      assert.ok(op?.responses["101"], ws.path);
      for (const status of ws.errors) assert.ok(op.responses[String(status)], `${ws.path} ${status}`);
      operations++;
    }
    assert.equal(
      Object.values(doc.paths).reduce((n, p) => n + Object.keys(p).length, 0),
      operations,
      "nothing but the contract's routes",
    );
  });
});
