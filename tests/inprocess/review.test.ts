import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { InProcessDaemon } from "../harness/in-process.js";

/**
 * Review of the ops routes (metrics, usage, console log, audit) as a hostile
 * tenant: tenants named like a prefix of one another ("acme", "acme-2") see
 * only their own instances everywhere; bounds hold; no token secret reaches the audit log
 */
describe("review: ops routes between tenants", () => {
  let d: InProcessDaemon;
  let acme: string;
  let acme2: string;
  const text = async (path: string, token: string | null) => {
    const r = await d.daemon.app.inject({ method: "GET", url: path, headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: r.statusCode, body: r.body };
  };
  before(async () => {
    d = await InProcessDaemon.start();
    acme = await d.tenant("acme");
    acme2 = await d.tenant("acme-2");
    for (const [token, name] of [
      [acme, "web"],
      [acme2, "secret-2"],
    ] as const) {
      assert.equal((await d.api("POST", "/v1/instances", { name, memoryMiB: 64 }, { token })).status, 201);
      assert.equal((await d.api("PUT", `/v1/instances/${name}/state`, { action: "start" }, { token })).status, 200);
    }
  });
  after(() => d.stop());

  it("metrics, usage and console logs show a tenant its own instances only, by the names it uses", async () => {
    const m = await text("/metrics", acme);
    assert.equal(m.status, 200);
    assert.match(m.body, /umld_instance_state\{name="web",tenant="acme",state="running"\} 1/);
    assert.doesNotMatch(m.body, /secret-2|acme-2|acme\.web|umld_host_|process_cpu|umld_api_request/, "no other tenant, no stored names, nothing of the host");
    const admin = await text("/metrics", d.token);
    assert.match(admin.body, /name="acme-2\.secret-2",tenant="acme-2"/, "the admin sees every instance (so the check above is not vacuous)");

    const usage = await d.api("GET", "/v1/usage", undefined, { token: acme });
    assert.deepEqual(
      usage.body.instances.map((i: { name: string }) => i.name),
      ["web"],
    );
    for (const name of ["secret-2", "acme-2.secret-2", "acme.web"]) {
      const u = await d.api("GET", `/v1/instances/${encodeURIComponent(name)}/usage`, undefined, { token: acme });
      assert.deepEqual([u.status, u.body.error.code], [404, "instance_not_found"], name);
      const l = await text(`/v1/instances/${encodeURIComponent(name)}/console/log`, acme);
      assert.equal(l.status, 404, name);
    }
    assert.equal((await text("/v1/instances/web/console/log?tail=5", acme)).status, 200);
  });

  it("a console log's tail is bounded, and a token without console or metrics gets neither", async () => {
    for (const tail of ["0", "-1", "100001", "1e9", "abc", "2.5"]) {
      assert.equal((await text(`/v1/instances/web/console/log?tail=${tail}`, acme)).status, 400, tail);
    }
    const reader = await d.tenant("acme", ["read"]);
    assert.equal((await text("/v1/instances/web/console/log", reader)).status, 403);
    assert.equal((await text("/metrics", reader)).status, 403);
    const metricsToken = (await import("node:fs")).readFileSync(`${d.stateDir}/metrics.token`, "utf8").trim();
    assert.equal((await text("/v1/instances/acme.web/console/log", metricsToken)).status, 403, "the metrics token reads /metrics only");
    assert.equal((await text("/v1/usage", metricsToken)).status, 403);
  });

  it("a token pasted into a path does not reach the audit log with its secret", async () => {
    const secret = acme.slice(-64);
    await d.api("DELETE", `/v1/instances/${acme}`, undefined, { token: acme });
    await d.api("DELETE", `/v1/no-such-route/${acme}`, undefined, { token: acme });
    const audit = await d.api("GET", "/v1/audit?limit=20");
    assert.equal(audit.status, 200);
    const rows = audit.body.entries.filter((e: unknown) => JSON.stringify(e).includes(secret));
    assert.deepEqual(rows, [], "audit rows holding the tenant's token secret");
  });
});

describe("review: the log scrubber", () => {
  let d: InProcessDaemon;
  const raw: string[] = [];
  before(async () => {
    d = await InProcessDaemon.start({ log: raw, logLevel: "info" });
  });
  after(() => d.stop());

  it("scrubs a token's secret also where a word character follows or precedes it in a logged URL", async () => {
    const acme = await d.tenant("acme");
    for (const path of [`/v1/instances/${acme}_old`, `/v1/instances/${d.token}0`, `/v1/instances/x_${acme}`]) await d.api("DELETE", path);
    const logged = raw
      .join("")
      .split("\n")
      .filter((l) => l.includes('"api request"'));
    assert.ok(logged.length >= 3, "the requests were logged (so the check below is not vacuous)");
    for (const secret of [acme.slice(-64), d.token.slice(-64)]) assert.ok(!raw.join("").includes(secret), `a secret in the log: ${logged.find((l) => l.includes(secret))}`);
  });
});
