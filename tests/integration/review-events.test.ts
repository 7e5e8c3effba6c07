import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import type WebSocket from "ws";
import type { Event } from "../../protocol/events.js";
import { TestDaemon } from "../harness/daemon.js";

/** Opens /v1/events with this query and token; collects what comes until closed. */
async function reader(d: TestDaemon, query: string, token: string): Promise<{ ws: WebSocket; got: Event[] }> {
  const ws = d.ws(`/v1/events${query}`, token);
  const got: Event[] = [];
  ws.on("message", (m) => got.push(JSON.parse(String(m)) as Event));
  await new Promise<void>((res, rej) => {
    ws.once("open", () => res());
    ws.once("error", rej);
  });
  return { ws, got };
}

/**
 * Review findings on the event journal (no guest is booted):
 * - a tenant re-created under a deleted tenant's name replays that tenant's
 *   history (instance names, operations and their errors): the journal is
 *   filtered on the name prefix only, and a tenant's deletion leaves its rows;
 * - a replay scanned the journal synchronously, page after page, yielding only
 *   when the socket backed up: a tenant that sees few of the kept events (or
 *   asks for a type that never happens) held the daemon's event loop for the
 *   whole journal (up to --event-retention-rows, 100000 by default) per
 *   upgrade: 7.2 s for twenty upgrades here; now it yields after every page.
 */
describe("review: event replay across tenants and its cost", { timeout: 180_000 }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
  });
  after(async () => {
    await d?.stop();
  });

  it("a tenant re-created under a deleted tenant's name replays none of the old tenant's events", async () => {
    assert.equal((await d.api("POST", "/v1/tenants", { name: "acme", quotas: {} })).status, 201);
    const old = (await d.api("POST", "/v1/tenants/acme/tokens", { name: "old" })).body.token as string;
    assert.equal((await d.api("POST", "/v1/instances", { name: "secret-project", memoryMiB: 64 }, { token: old })).status, 201);
    assert.equal((await d.api("DELETE", "/v1/instances/secret-project", undefined, { token: old })).status, 200);
    assert.equal((await d.api("DELETE", "/v1/tenants/acme")).status, 200);
    // a new customer gets the free name
    assert.equal((await d.api("POST", "/v1/tenants", { name: "acme", quotas: {} })).status, 201);
    const fresh = (await d.api("POST", "/v1/tenants/acme/tokens", { name: "new" })).body.token as string;
    const r = await reader(d, "?since=0", fresh);
    await new Promise((res) => setTimeout(res, 1500));
    r.ws.close();
    const leaked = r.got.filter((e) => JSON.stringify(e).includes("secret-project"));
    assert.deepEqual(
      leaked.map((e) => `${e.seq} ${e.type}`),
      [],
      "the new acme sees the old acme's history",
    );
  });

  it("a replay that matches nothing does not hold the daemon's event loop for the whole journal", async () => {
    // another tenant's busy history: 100000 kept events (what --event-retention-rows keeps by default)
    const db = new Database(`${d.stateDir}/umld.db`);
    db.pragma("busy_timeout = 10000");
    const ins = db.prepare("INSERT INTO events (at, type, subject, body) VALUES (?, 'instance.state', 'other.web', ?)");
    const at = new Date().toISOString();
    const body = JSON.stringify({ type: "instance.state", instance: "other.web", from: "running", to: "running", reason: "x".repeat(60), timestamp: at });
    db.transaction(() => {
      for (let i = 0; i < 100_000; i++) ins.run(at, body);
    })();
    db.close();
    assert.equal((await d.api("POST", "/v1/tenants", { name: "mallory", quotas: {} })).status, 201);
    const tok = (await d.api("POST", "/v1/tenants/mallory/tokens", { name: "m" })).body.token as string;

    // a health probe every 20 ms meanwhile: the longest answer is how long the loop was held
    let worst = 0;
    let probing = true;
    const probe = (async () => {
      while (probing) {
        const t = Date.now();
        await d.api("GET", "/v1/health");
        worst = Math.max(worst, Date.now() - t);
        await new Promise((res) => setTimeout(res, 20));
      }
    })();
    await new Promise((res) => setTimeout(res, 200));
    // twenty upgrades at once: one second of this token's budget (--rate-limit 1200 a minute), under its 32 sockets
    const sockets = await Promise.all(Array.from({ length: 20 }, () => reader(d, "?since=0&type=instance.flagged", tok)));
    await new Promise((res) => setTimeout(res, 1000));
    probing = false;
    await probe;
    for (const s of sockets) s.ws.close();
    console.log(`# longest /v1/health answer during twenty replays: ${worst} ms`);
    assert.ok(worst < 2000, `the event loop was held ${worst} ms`);
  });
});
