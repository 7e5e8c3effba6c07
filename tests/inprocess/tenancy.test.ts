import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { routeScopes, ROUTE_NAMES } from "../../protocol/contract.js";
import { COMMAND_ACCESS, type CommandKind } from "../../core/commands/command.js";
import { handlers } from "../../daemon/http/routes.js";
import type { Services } from "../../daemon/services.js";
import { InProcessDaemon } from "../harness/in-process.js";

/** Scopes, rights and quotas as the dispatcher applies them to every command, whoever sends it. */
describe("tenancy in process: namespaces, rights, quotas", () => {
  let d: InProcessDaemon;
  let acme: string;
  let bob: string;
  before(async () => {
    d = await InProcessDaemon.start();
    acme = await d.tenant("acme", undefined, { maxInstances: 2 });
    bob = await d.tenant("bob");
  });
  after(() => d.stop());

  it("two tenants' instances of one name are two instances; each sees and acts on its own only", async () => {
    for (const token of [acme, bob]) assert.equal((await d.api("POST", "/v1/instances", { name: "web", memoryMiB: 64 }, { token })).status, 201);
    const names = (token?: string) => d.api("GET", "/v1/instances", undefined, { token }).then((r) => r.body.instances.map((i: { name: string }) => i.name).sort());
    assert.deepEqual(await names(acme), ["web"]);
    assert.deepEqual(await names(), ["acme.web", "bob.web"]);
    assert.equal((await d.api("PUT", "/v1/instances/web/state", { action: "start" }, { token: acme })).status, 200);
    const view = (token?: string, name = "web") => d.api("GET", `/v1/instances/${name}`, undefined, { token }).then((r) => r.body);
    assert.equal((await view(acme)).state, "running");
    assert.equal((await view(bob)).state, "stopped", "bob's web did not move");
    // another tenant's object is exactly as absent as a name never used
    for (const name of ["acme.web", "nothing"]) {
      const r = await d.api("PUT", `/v1/instances/${name}/state`, { action: "halt" }, { token: bob });
      assert.deepEqual([r.status, r.body.error.code], [404, "instance_not_found"], name);
    }
    assert.equal((await view(undefined, "acme.web")).state, "running");
  });

  it("a token does only what it was given; reboot alone restarts a guest and nothing else", async () => {
    const reader = await d.tenant("acme", ["read"]);
    for (const [method, path, body] of [
      ["POST", "/v1/instances", { name: "x", memoryMiB: 64 }],
      ["PUT", "/v1/instances/web/state", { action: "halt" }],
      ["DELETE", "/v1/instances/web", undefined],
      ["PATCH", "/v1/instances/web", { memoryMiB: 64 }],
    ] as const) {
      const r = await d.api(method, path, body, { token: reader });
      assert.deepEqual([r.status, r.body.error.code], [403, "forbidden"], `${method} ${path}`);
    }
    const rebooter = await d.tenant("acme", ["read", "reboot"]);
    assert.equal((await d.api("PUT", "/v1/instances/web/state", { action: "reboot" }, { token: rebooter })).status, 200);
    const halt = await d.api("PUT", "/v1/instances/web/state", { action: "halt" }, { token: rebooter });
    assert.deepEqual([halt.status, halt.body.error.code, halt.body.error.details.action], [403, "forbidden", "halt"]);
    assert.equal((await d.api("GET", "/v1/instances/web", undefined, { token: acme })).body.state, "running");
  });

  it("what changes the host is for admins, even for a tenant with every right", async () => {
    const refused: Array<[string, string, unknown]> = [
      ["PATCH", "/v1/instances/web", { hostfsDir: "/srv" }],
      ["POST", "/v1/networks", { name: "br", kind: "host", subnet: "10.99.0.0/24" }],
      ["POST", "/v1/networks", { name: "u", kind: "user", hostAccess: true }],
      ["POST", "/v1/instances/web/mconsole", { command: "version" }],
      ["POST", "/v1/tenants", { name: "evil" }],
    ];
    for (const [method, path, body] of refused) {
      const r = await d.api(method, path, body, { token: acme });
      assert.deepEqual([r.status, r.body.error.code], [403, "forbidden"], `${method} ${path}`);
    }
    assert.equal((await d.api("GET", "/v1/networks")).body.networks.length, 0);
  });

  it("quotas are reserved in one step: concurrent creates past the limit get quota_exceeded, and nothing is half made", async () => {
    // acme has 1 of 2 instances
    const tries = await Promise.all(["q1", "q2", "q3", "q4"].map((name) => d.api("POST", "/v1/instances", { name, memoryMiB: 64 }, { token: acme })));
    assert.deepEqual(tries.map((r) => r.status).sort(), [201, 409, 409, 409]);
    for (const r of tries.filter((t) => t.status === 409)) assert.equal(r.body.error.code, "quota_exceeded");
    assert.equal((await d.api("GET", "/v1/instances", undefined, { token: acme })).body.instances.length, 2);
  });

  it("every write route gives one command, and the command needs the access its route declares", async () => {
    // routeScopes is what OpenAPI publishes; COMMAND_ACCESS is what the dispatcher checks: they must agree
    const h = handlers(
      new Proxy(
        {},
        {
          get: () => {
            throw new Error("read");
          },
        },
      ) as Services,
    );
    const params = { name: "x", slot: "ubdb", snapshot: "s", channel: "ssl0", tenant: "t", token: "0123456789abcdef", id: "op" };
    let writes = 0;
    for (const route of ROUTE_NAMES) {
      const bodies =
        route === "changeState" ? ["start", "shutdown", "halt", "reboot", "pause", "resume", "upgrade"].map((action) => ({ action, wait: true })) : [{ selector: {}, quotas: {}, actions: [] }];
      for (const body of bodies) {
        let kind: CommandKind | null = null;
        const edge = {
          scope: null,
          own: (n: string) => n,
          run: (cmd: { kind: CommandKind }) => {
            kind = cmd.kind;
            throw new Error("ran");
          },
        };
        try {
          await (h[route] as (c: unknown, x: unknown) => unknown)({ name: route, params, query: {}, body }, edge);
        } catch {
          // "ran" for a write, "read" (or a property of a null scope) for a query
        }
        if (kind === null) continue;
        writes++;
        assert.equal(COMMAND_ACCESS[kind], routeScopes[route].access, `${route} gives ${kind}`);
      }
    }
    assert.ok(writes >= 30, `only ${writes} writes found`);
  });
});
