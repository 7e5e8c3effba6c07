import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import fc from "fast-check";
import type { z } from "zod";
import { ERRORS } from "../../protocol/errors.js";
import { routes, type RouteDef } from "../../protocol/routes.js";
import { assertConforms, TestDaemon } from "../harness/daemon.js";

/**
 * Hostile input at every route, as an admin and as a tenant: random JSON,
 * wrong types, path traversal, option injection into names and disk specs,
 * huge and badly encoded bodies. Every request must get a 4xx with a
 * registered code; afterwards the daemon answers, and the database and the
 * state directory are exactly as before.
 */

const HOSTILE_STRINGS = [
  "../../etc/passwd",
  "..",
  "/etc/shadow",
  "a/../../b",
  "web,ubd1=/etc/passwd",
  "x=y",
  "a b",
  "hostfs=/",
  "init=/bin/sh",
  "a\u0000b",
  "\u202e\u0000",
  "ÿþ",
  "%2e%2e%2f",
  "A".repeat(300),
  "",
  " ",
  "web;rm -rf /",
  "$(reboot)",
  "`id`",
  "web\nroot=/dev/ubdb",
  "UPPER",
  "-leading",
  "trailing-",
  "a.b.c",
  "..a",
  "con0=fd:0",
  "mem=1G",
  "eth0=tuntap,,",
  "\\x00",
  "🙂",
  "0".repeat(64),
];

const hostileString = fc.oneof(fc.constantFrom(...HOSTILE_STRINGS), fc.string({ maxLength: 80 }), fc.string({ unit: "binary", maxLength: 40 }));
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.integer(),
  fc.constantFrom(-1, 0, 1e308, -1e308, 2 ** 53, 1.5, Number.MAX_SAFE_INTEGER + 2),
  fc.boolean(),
  fc.constant(null),
  fc.array(hostileString, { maxLength: 4 }),
  fc.dictionary(hostileString, hostileString, { maxKeys: 3 }),
);

/** Bodies: random JSON, or an object whose known keys carry hostile values (closer to what a schema checks). */
function hostileBody(schema: z.ZodType | undefined): fc.Arbitrary<unknown> {
  const keys = schemaKeys(schema);
  const shaped = keys.length ? fc.record(Object.fromEntries(keys.map((k) => [k, hostileValue])), { requiredKeys: [] }) : fc.dictionary(hostileString, hostileValue, { maxKeys: 4 });
  return fc.oneof(fc.jsonValue({ maxDepth: 3 }), shaped, fc.anything({ maxDepth: 2 }), fc.constantFrom({ __proto__: { admin: true } }, { constructor: { prototype: { x: 1 } } }));
}

function schemaKeys(schema: z.ZodType | undefined): string[] {
  let s = schema as unknown as { shape?: Record<string, unknown>; _def?: { schema?: unknown; innerType?: unknown; in?: unknown } } | undefined;
  for (let i = 0; i < 5 && s && !s.shape; i++) s = (s._def?.schema ?? s._def?.innerType ?? s._def?.in) as typeof s;
  return s?.shape ? Object.keys(s.shape) : [];
}

function paramNames(path: string): string[] {
  return [...path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
}

interface Sent {
  status: number;
  body: any;
}

/** Every row of every table (but the audit log, which records these very requests, and token use times). */
function dumpDb(stateDir: string): string {
  const db = new Database(`${stateDir}/umld.db`, { readonly: true });
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('audit', 'sqlite_sequence') ORDER BY name").all() as Array<{ name: string }>).map((t) => t.name);
    const out: Record<string, unknown> = {};
    for (const t of tables) {
      const rows = db.prepare(`SELECT * FROM "${t}"`).all() as Array<Record<string, unknown>>;
      out[t] = rows.map((r) => (t === "tokens" ? { ...r, last_used_at: null } : r));
    }
    return JSON.stringify(out);
  } finally {
    db.close();
  }
}

/** Every file under the state dir with its size and mode (but the database, logs and sockets' times). */
function dumpFiles(dir: string, base = dir, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    const rel = p.slice(base.length);
    if (/^\/umld\.db/.test(rel) || rel.endsWith(".log")) continue;
    const st = statSync(p);
    out.push(`${rel} ${e.isDirectory() ? "d" : st.size} ${(st.mode & 0o7777).toString(8)}`);
    if (e.isDirectory()) dumpFiles(p, base, out);
  }
  return out.sort();
}

describe("hostile input at every route", { timeout: 600_000 }, () => {
  let d: TestDaemon;
  let tenantToken: string;
  before(async () => {
    // a high rate limit: this test is the one client that sends thousands of requests on purpose
    d = await TestDaemon.start({ logLevel: "info", args: ["--rate-limit", "1000000"] });
    await d.api("POST", "/v1/tenants", { name: "fz", quotas: { maxInstances: 2 } });
    tenantToken = (await d.api("POST", "/v1/tenants/fz/tokens", { name: "t" })).body.token;
    await d.create("base");
    assert.equal((await d.api("POST", "/v1/instances", { name: "mine" }, { token: tenantToken })).status, 201);
    assert.equal((await d.api("POST", "/v1/networks", { name: "lan", subnet: "10.93.0.0/24" })).status, 201);
  });
  after(async () => {
    await d?.stop();
  });

  async function send(method: string, path: string, body: string | Uint8Array | undefined, token: string, contentType = "application/json"): Promise<Sent> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers["content-type"] = contentType;
    const res = await fetch(d.url + path, { method, headers, body: typeof body === "string" || body === undefined ? body : Buffer.from(body) });
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = { unparsable: text.slice(0, 200) };
    }
    return { status: res.status, body: parsed };
  }

  function check(r: Sent, what: string, method: string, path: string): void {
    assert.ok(r.status >= 400 && r.status < 500, `${what}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    assertConforms(method, path, r); // a status the route declares, an ErrorBody
    assert.ok(r.body?.error?.code in ERRORS, `${what}: unregistered error ${JSON.stringify(r.body).slice(0, 300)}`);
    assert.equal(typeof r.body.error.message, "string");
  }

  it("every route answers malformed params, queries and bodies with a 4xx and a registered code", async () => {
    const dbBefore = dumpDb(d.stateDir);
    const filesBefore = dumpFiles(d.stateDir);
    let requests = 0;
    for (const [name, def] of Object.entries(routes) as Array<[string, RouteDef]>) {
      const params = paramNames(def.path);
      if (!params.length && !def.body && !def.query) continue; // takes no input
      for (const token of [d.token, tenantToken]) {
        const input = fc.record({
          params: fc.tuple(...params.map(() => hostileString)),
          body: hostileBody(def.body),
          query: fc.dictionary(fc.constantFrom("force", "limit", "tenant", "before", "x"), hostileString, { maxKeys: 2 }),
        });
        const out = await fc.check(
          fc.asyncProperty(input, async ({ params: values, body, query }) => {
            // judge what goes on the wire, as the daemon will see it
            const text = def.body ? JSON.stringify(body) : undefined;
            const wireBody = text === undefined ? undefined : JSON.parse(text);
            const qs = new URLSearchParams(query as Record<string, string>).toString();
            const paramObj = Object.fromEntries(params.map((p, i) => [p, values[i]]));
            const paramsValid = !def.params || def.params.safeParse(paramObj).success;
            const bodyValid = !def.body || def.body.safeParse(wireBody).success;
            const queryValid = !def.query || def.query.safeParse(Object.fromEntries(new URLSearchParams(qs))).success;
            fc.pre(!(paramsValid && bodyValid && queryValid)); // hostile means: something in it is wrong
            let path = `/v1${def.path}`;
            params.forEach((p, i) => {
              path = path.replace(`:${p}`, encodeURIComponent(values[i]!));
            });
            requests++;
            check(await send(def.method, path + (qs ? `?${qs}` : ""), text ?? undefined, token), `${name} ${path}`, def.method, path);
          }),
          { numRuns: 25, seed: 42 },
        );
        if (out.failed)
          assert.fail(`${name} (${token === d.token ? "admin" : "tenant"}): ${(out.errorInstance as Error | undefined)?.message ?? "failed"}; counterexample ${JSON.stringify(out.counterexample)}`);
      }
    }
    assert.ok(requests > 1000, `sent ${requests}`);
    assert.equal((await d.api("GET", "/v1/health")).status, 200, "the daemon is up");
    assert.equal(dumpDb(d.stateDir), dbBefore, "the database is unchanged");
    assert.deepEqual(dumpFiles(d.stateDir), filesBefore, "the state directory is unchanged");
  });

  it("huge, badly encoded, mistyped and malformed bodies are refused the same way", async () => {
    const dbBefore = dumpDb(d.stateDir);
    const bodies: Array<[string, string | Uint8Array, string]> = [
      ["huge", JSON.stringify({ name: "x".repeat(200_000) }), "application/json"],
      ["bad UTF-8", new Uint8Array([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]), "application/json"],
      ["truncated", '{"name": "web', "application/json"],
      ["not JSON", "name=web", "application/x-www-form-urlencoded"],
      ["deep", "[".repeat(5000) + "]".repeat(5000), "application/json"],
      ["number", "1e999999", "application/json"],
    ];
    for (const [name, def] of Object.entries(routes) as Array<[string, RouteDef]>) {
      if (!def.body) continue;
      let path = `/v1${def.path}`;
      for (const p of paramNames(def.path)) path = path.replace(`:${p}`, p === "name" ? "base" : p === "tenant" ? "fz" : "x");
      for (const [what, body, type] of bodies) {
        for (const token of [d.token, tenantToken]) check(await send(def.method, path, body, token, type), `${name} ${what}`, def.method, path);
      }
    }
    assert.equal(dumpDb(d.stateDir), dbBefore);
  });

  it("no token, a wrong token and a forged one are 401 everywhere, and change nothing", async () => {
    const dbBefore = dumpDb(d.stateDir);
    for (const def of Object.values(routes) as RouteDef[]) {
      let path = `/v1${def.path}`;
      for (const p of paramNames(def.path)) path = path.replace(`:${p}`, "base");
      for (const token of ["", `umld_0000000000000000_${"0".repeat(64)}`, `${tenantToken.slice(0, -2)}00`, "Basic abc"]) {
        const r = await fetch(d.url + path, { method: def.method, headers: token ? { authorization: `Bearer ${token}` } : {} });
        assert.equal(r.status, 401, `${def.method} ${def.path}`);
      }
    }
    assert.equal(dumpDb(d.stateDir), dbBefore);
  });
});
