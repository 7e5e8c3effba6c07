import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type WebSocket from "ws";
import { routes } from "../../protocol/routes.js";
import { TestDaemon } from "../harness/daemon.js";

/** Two tenants on one daemon: each sees and controls only its own objects, within its quotas and permissions. */
describe("tenants, tokens and scoping", { timeout: 240_000 }, () => {
  let d: TestDaemon;
  const tok: Record<string, string> = {};
  const events: Record<string, Array<{ type: string; instance?: string }>> = { acme: [], bobco: [] };
  const sockets: WebSocket[] = [];
  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
    for (const t of ["acme", "bobco"]) {
      assert.equal((await d.api("POST", "/v1/tenants", { name: t, quotas: { maxInstances: 3 } })).status, 201);
      const r = await d.api("POST", `/v1/tenants/${t}/tokens`, { name: "main" });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.match(r.body.token, /^umld_[0-9a-f]{16}_[0-9a-f]{64}$/);
      tok[t] = r.body.token;
      const ws = d.ws("/v1/events", r.body.token);
      ws.on("message", (m) => events[t]!.push(JSON.parse(String(m))));
      await new Promise((res) => ws.once("open", res));
      sockets.push(ws);
    }
  });
  after(async () => {
    for (const ws of sockets) ws.close();
    await d?.stop();
  });

  it("each tenant sees only its own instances, under its own names, also in events and consoles", async () => {
    const a = await d.api("POST", "/v1/instances", { name: "web", memoryMiB: 64 }, { token: tok.acme });
    assert.equal(a.status, 201, JSON.stringify(a.body));
    assert.equal(a.body.name, "web", "the tenant sees its own name");
    const b = await d.api("POST", "/v1/instances", { name: "web", memoryMiB: 64 }, { token: tok.bobco });
    assert.equal(b.status, 201, "the same name in another tenant is no conflict (and leaks nothing)");
    const admin = (await d.api("GET", "/v1/instances")).body.instances.map((i: { name: string }) => i.name).sort();
    assert.deepEqual(admin, ["acme.web", "bobco.web"], "admins see everything, by stored name");
    for (const t of ["acme", "bobco"]) {
      const list = (await d.api("GET", "/v1/instances", undefined, { token: tok[t] })).body.instances;
      assert.deepEqual(
        list.map((i: { name: string }) => i.name),
        ["web"],
      );
    }
    assert.equal((await d.api("PUT", "/v1/instances/web/state", { action: "start" }, { token: tok.acme })).status, 200);
    const con = await d.console("web", true, undefined, tok.acme);
    await con.waitFor("web:/# ", 20_000); // the guest's hostname is its tenant-facing name
    assert.match(await con.run("echo tenant-$((40+2))"), /tenant-42/);
    con.close();
    // bobco's "web" is stopped; acme's start reached no one else
    assert.equal((await d.api("GET", "/v1/instances/web", undefined, { token: tok.bobco })).body.state, "stopped");
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(
      events.acme!.some((e) => e.type === "instance.state" && e.instance === "web"),
      "acme got its own events, under its names",
    );
    assert.ok(!events.bobco!.some((e) => e.type === "instance.state" && (e as { state?: string }).state === "running"), "bobco saw nothing of acme's start");
    assert.ok(events.acme!.every((e) => !JSON.stringify(e).includes("bobco")) && events.bobco!.every((e) => !JSON.stringify(e).includes("acme")));
    // the shared image both are layered on names only the asker's own instance
    const images = (await d.api("GET", "/v1/images", undefined, { token: tok.bobco })).body.images;
    assert.deepEqual(images.find((i: { name: string }) => i.name === "busybox").dependants, ["web"]);
    assert.ok(!JSON.stringify(images).includes("acme"), "nothing of acme's in bobco's image list");
  });

  it("another tenant's object answers exactly like one that does not exist, on every route", async () => {
    // bobco deletes its own web so that 'web' names nothing of bobco's; acme's web is running
    assert.equal((await d.api("DELETE", "/v1/instances/web", undefined, { token: tok.bobco })).status, 200);
    for (const [name, r] of Object.entries(routes)) {
      if (!r.path.startsWith("/instances/:name")) continue;
      const path = `/v1${r.path
        .replace(":name", "web")
        .replace(":slot", r.path.includes("nics") ? "eth0" : "ubdb")
        .replace(":channel", "ssl0")
        .replace(":snapshot", "s1")}`;
      const body = {
        createSnapshot: { name: "s1" },
        changeState: { action: "halt" },
        attachDisk: { sizeMiB: 8 },
        addChannel: { channel: "ssl0" },
        attachNic: { network: "lan" },
        cloneInstance: { name: "copy" },
        patchInstance: { memoryMiB: 48 },
        mconsole: { command: "version" },
        mergeDisk: { image: "x" },
        migrateInstance: { host: "elsewhere" },
      }[name as string];
      const other = await d.api(r.method, path, body, { token: tok.bobco });
      const none = await d.api(r.method, path.replace("/web", "/nothing-here"), body, { token: tok.bobco });
      assert.equal(other.status, none.status, `${r.method} ${r.path}: ${JSON.stringify(other.body)} vs ${JSON.stringify(none.body)}`);
      assert.equal(other.body?.error?.code, none.body?.error?.code, `${r.method} ${r.path}`);
      assert.ok([403, 404].includes(other.status), `${r.method} ${r.path} answered ${other.status}`);
    }
    assert.equal(await d.upgradeStatus("/v1/instances/web/console", tok.bobco), 404);
    assert.equal(await d.upgradeStatus("/v1/instances/acme.web/console", tok.bobco), 404, "a stored name is no way around");
    assert.equal((await d.api("GET", "/v1/instances/acme.web", undefined, { token: tok.bobco })).status, 404);
    assert.equal((await d.api("GET", "/v1/instances/web")).status, 404, "the admin uses stored names");
    assert.equal((await d.api("GET", "/v1/instances/acme.web")).body.state, "running");
    const acting = await d.api("GET", "/v1/instances", undefined, { token: d.token, raw: undefined });
    assert.ok(acting.body.instances.length >= 1);
  });

  it("an admin acts for a tenant with Umld-Tenant: the tenant's names, its quota", async () => {
    const as = { headers: { "umld-tenant": "acme" } };
    const made = await d.api("POST", "/v1/networks", { name: "adm", kind: "host", subnet: "10.96.0.0/24" }, as);
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal(made.body.name, "adm", "answered in the tenant's names");
    assert.ok(
      (await d.api("GET", "/v1/networks", undefined, { token: tok.acme })).body.networks.some((n: { name: string }) => n.name === "adm"),
      "the tenant owns it",
    );
    assert.equal((await d.api("GET", "/v1/instances", undefined, as)).body.instances.map((i: { name: string }) => i.name).join(), "web");
    assert.equal((await d.api("GET", "/v1/instances", undefined, { headers: { "umld-tenant": "nobody" } })).body.error.code, "tenant_not_found");
    assert.equal((await d.api("GET", "/v1/instances", undefined, { token: tok.acme, headers: { "umld-tenant": "bobco" } })).status, 403, "a tenant acts for itself only");
    assert.equal((await d.api("DELETE", "/v1/networks/adm", undefined, as)).status, 200);
  });

  it("a console-and-reboot token reboots and attaches, and cannot create, delete or stop", async () => {
    const r = await d.api("POST", "/v1/tenants/acme/tokens", { name: "ops", actions: ["read", "console", "reboot"] });
    const ops = r.body.token as string;
    assert.equal((await d.api("POST", "/v1/instances", { name: "x" }, { token: ops })).body.error.code, "forbidden");
    assert.equal((await d.api("DELETE", "/v1/instances/web?force=true", undefined, { token: ops })).body.error.code, "forbidden");
    assert.equal((await d.api("PUT", "/v1/instances/web/state", { action: "halt" }, { token: ops })).body.error.code, "forbidden");
    assert.equal((await d.api("GET", "/v1/audit", undefined, { token: ops })).status, 403);
    const reboot = await d.api("PUT", "/v1/instances/web/state", { action: "reboot" }, { token: ops });
    assert.equal(reboot.status, 200, JSON.stringify(reboot.body));
    assert.equal(await d.upgradeStatus("/v1/instances/web/console", ops), 101);
  });

  it("tenants make their own switch networks, never host ones; an admin can make one for them", async () => {
    const sw = await d.api("POST", "/v1/networks", { name: "lan", subnet: "10.94.0.0/24" }, { token: tok.acme });
    assert.equal(sw.status, 201, JSON.stringify(sw.body));
    assert.equal(sw.body.name, "lan");
    const host = await d.api("POST", "/v1/networks", { name: "pub", kind: "host", subnet: "10.95.0.0/24" }, { token: tok.acme });
    assert.equal(host.status, 403);
    assert.equal(host.body.error.code, "forbidden");
    assert.deepEqual((await d.api("GET", "/v1/networks", undefined, { token: tok.bobco })).body.networks, [], "bobco sees none of acme's");
    const nic = await d.api("POST", "/v1/instances/web/nics", { network: "lan" }, { token: tok.bobco });
    assert.equal(nic.status, 404, "bobco has no 'web' and no 'lan'");
    const other = await d.api("DELETE", "/v1/networks/lan", undefined, { token: tok.bobco });
    const none = await d.api("DELETE", "/v1/networks/never-made", undefined, { token: tok.bobco });
    assert.deepEqual([other.status, other.body.error.code], [none.status, none.body.error.code], "another tenant's network is as absent as a missing one");
    assert.equal((await d.api("DELETE", "/v1/networks/acme.lan")).status, 200, "the admin, by stored name");
  });

  it("N concurrent creates never exceed the quota", async () => {
    // acme has 1 instance and a quota of 3
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => d.api("POST", "/v1/instances", { name: `q${i}`, memoryMiB: 32 }, { token: tok.acme })));
    const ok = results.filter((r) => r.status === 201).length;
    assert.equal(ok, 2, results.map((r) => r.status).join(","));
    const refused = results.find((r) => r.status !== 201)!;
    assert.equal(refused.body.error.code, "quota_exceeded");
    assert.deepEqual([refused.body.error.details.quota, refused.body.error.details.limit], ["instances", 3]);
    const t = await d.api("GET", "/v1/tenants/acme", undefined, { token: tok.acme });
    assert.equal(t.body.usage.instances, 3);
    // disk: data disks count against the tenant's disk quota too
    assert.equal((await d.api("PATCH", "/v1/tenants/acme", { quotas: { maxDiskMiB: t.body.usage.diskMiB + 100 } })).status, 200);
    const made = results.map((r, i) => (r.status === 201 ? `q${i}` : null)).filter((n): n is string => n !== null);
    const fits = await d.api("POST", `/v1/instances/${made[0]}/disks`, { sizeMiB: 80 }, { token: tok.acme });
    assert.equal(fits.status, 201, JSON.stringify(fits.body));
    const over = await d.api("POST", `/v1/instances/${made[1]}/disks`, { sizeMiB: 40 }, { token: tok.acme });
    assert.equal(over.body.error.code, "quota_exceeded");
    assert.deepEqual([over.body.error.details.quota, over.body.error.details.requested], ["diskMiB", 40]);
    assert.equal((await d.api("GET", "/v1/tenants/bobco", undefined, { token: tok.acme })).status, 404);
  });

  it("revoked and expired tokens are refused", async () => {
    const short = await d.api("POST", "/v1/tenants/bobco/tokens", { name: "short", expiresInS: 1 });
    assert.equal((await d.api("GET", "/v1/instances", undefined, { token: short.body.token })).status, 200);
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal((await d.api("GET", "/v1/instances", undefined, { token: short.body.token })).status, 401);
    const id = (await d.api("GET", "/v1/tenants/bobco/tokens")).body.tokens.find((t: { name: string }) => t.name === "main").id;
    assert.equal((await d.api("DELETE", `/v1/tenants/bobco/tokens/${id}`)).body.revokedAt !== null, true);
    assert.equal((await d.api("GET", "/v1/instances", undefined, { token: tok.bobco })).status, 401);
    assert.equal(await d.upgradeStatus("/v1/events", tok.bobco), 401);
    assert.equal((await d.api("GET", "/v1/instances", undefined, { token: `${tok.bobco!.slice(0, -1)}0` })).status, 401);
  });

  it("the audit log has every mutating call and console attach, with principal, object and outcome", async () => {
    const log = (await d.api("GET", "/v1/audit?limit=200")).body.entries as Array<{ principal: string; action: string; object: string | null; outcome: string; tenant: string | null }>;
    assert.ok(log.some((e) => e.principal === "acme:main" && e.action === "createInstance" && e.outcome === "ok" && e.tenant === "acme"));
    assert.ok(log.some((e) => e.principal === "acme:ops" && e.action === "createInstance" && e.outcome === "forbidden"));
    assert.ok(log.some((e) => e.action === "console.attach" && e.object === "instances/acme.web" && e.outcome === "ok"));
    assert.ok(log.some((e) => e.action === "createInstance" && e.outcome === "quota_exceeded"));
    assert.ok(log.some((e) => e.principal === "anonymous" && e.outcome === "unauthorized"));
    await d.api("DELETE", "/v1/instances/acme.web?force=true");
  });
});

describe("request limits", { timeout: 60_000 }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await TestDaemon.start({ logLevel: "info", args: ["--rate-limit", "5"] });
  });
  after(async () => {
    await d?.stop();
  });

  it("a token past its rate gets 429 with Retry-After; another token and the local socket are not held back", async () => {
    await d.api("POST", "/v1/tenants", { name: "busy" });
    const a = (await d.api("POST", "/v1/tenants/busy/tokens", { name: "a" })).body.token;
    const b = (await d.api("POST", "/v1/tenants/busy/tokens", { name: "b" })).body.token;
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await d.api("GET", "/v1/instances", undefined, { token: a })).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
    const limited = await fetch(`${d.url}/v1/instances`, { headers: { authorization: `Bearer ${a}` } });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get("retry-after")) > 0);
    assert.equal(((await limited.json()) as { error: { code: string } }).error.code, "rate_limited");
    assert.equal((await d.api("GET", "/v1/instances", undefined, { token: b })).status, 200, "limits are per token");
    const local = await new Promise<number>((resolve) => {
      import("node:http").then(({ get }) => get({ socketPath: `${d.stateDir}/umld.sock`, path: "/v1/instances" }, (r) => resolve(r.statusCode ?? 0)));
    });
    assert.equal(local, 200);
  });

  it("a WebSocket message over 64 KiB closes the connection (1009) and reaches no guest", async () => {
    const local = await new Promise<number>((resolve) => {
      import("node:http").then(({ request }) => {
        const req = request({ socketPath: `${d.stateDir}/umld.sock`, path: "/v1/instances", method: "POST", headers: { "content-type": "application/json" } }, (r) => resolve(r.statusCode ?? 0));
        req.end(JSON.stringify({ name: "ws" }));
      });
    });
    assert.equal(local, 201);
    const { default: WebSocket } = await import("ws");
    const ws = new WebSocket(`${d.url.replace(/^http/, "ws")}/v1/instances/ws/console`, { headers: { authorization: `Bearer ${d.token}` } });
    await new Promise((r) => ws.once("open", r));
    const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)));
    ws.send(Buffer.alloc(70 * 1024, 0x61));
    assert.equal(await closed, 1009);
  });
});
