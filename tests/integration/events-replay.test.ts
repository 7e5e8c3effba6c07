import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type WebSocket from "ws";
import type { Event } from "../../protocol/events.js";
import { TestDaemon } from "../harness/daemon.js";

/** A client of /v1/events that keeps what it got. */
class Reader {
  readonly got: Event[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on("message", (d) => this.got.push(JSON.parse(String(d)) as Event));
  }
  static async open(d: TestDaemon, query = "", token?: string | null): Promise<Reader> {
    const r = new Reader(d.ws(`/v1/events${query}`, token));
    await new Promise<void>((resolve, reject) => {
      r.ws.once("open", () => resolve());
      r.ws.once("error", reject);
    });
    return r;
  }
  /** Waits until it has an event with this seq or beyond. */
  async upTo(seq: number, ms = 15_000): Promise<void> {
    const end = Date.now() + ms;
    while (!this.got.some((e) => e.seq >= seq)) {
      if (Date.now() > end) throw new Error(`no event ${seq}; got ${this.got.map((e) => e.seq).join(",")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  close(): void {
    this.ws.close();
  }
}

const lastSeq = (d: TestDaemon) => d.events.at(-1)?.seq ?? 0;

describe("events survive reconnects: seq, replay with since, type filter, too old", { timeout: 180_000 }, () => {
  let d: TestDaemon;
  let tenantToken = "";
  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
  });
  after(async () => {
    await d?.stop();
  });

  it("a client that reconnects with since gets exactly the events it missed, in order, then live ones once", async () => {
    const a = await Reader.open(d);
    await d.create("ev-1");
    await a.upTo(lastSeq(d));
    const seen = a.got.at(-1)!.seq;
    a.close();

    // while it is away: a boot (state, ready and operation events), another instance made and deleted
    await d.mustAct("ev-1", "start");
    await d.create("ev-2");
    assert.equal((await d.api("DELETE", "/v1/instances/ev-2")).status, 200);
    await d.waitEvent((e) => e.type === "instance.deleted" && e.instance === "ev-2");
    const missed = d.events.filter((e) => e.seq > seen);
    assert.ok(missed.length >= 6, `events happened meanwhile (${missed.length})`);

    const b = await Reader.open(d, `?since=${seen}`);
    await b.upTo(missed.at(-1)!.seq);
    assert.deepEqual(b.got, missed, "the replay is exactly what was missed, as it was sent live");
    await d.mustAct("ev-1", "halt");
    await b.upTo(lastSeq(d));
    const seqs = b.got.map((e) => e.seq);
    assert.deepEqual(
      seqs,
      [...new Set(seqs)].sort((x, y) => x - y),
      "no duplicate, in seq order",
    );
    assert.deepEqual(
      b.got,
      d.events.filter((e) => e.seq > seen),
      "replay then live: the same stream as a client that never left",
    );
    b.close();
  });

  it("filters by type, in the replay and live", async () => {
    const r = await Reader.open(d, "?since=0&type=instance.created,instance.deleted");
    await r.upTo(d.events.filter((e) => e.type === "instance.deleted").at(-1)!.seq);
    await d.create("ev-3");
    await d.waitEvent((e) => e.type === "instance.created" && e.instance === "ev-3");
    await r.upTo(lastSeq(d));
    assert.deepEqual(
      r.got.map((e) => `${e.type} ${"instance" in e ? e.instance : ""}`),
      ["instance.created ev-1", "instance.created ev-2", "instance.deleted ev-2", "instance.created ev-3"],
    );
    r.close();
    assert.equal(await d.upgradeStatus("/v1/events?type=instance.nope"), 400, "an unknown type is refused before the upgrade");
    assert.equal(await d.upgradeStatus("/v1/events?since=-1"), 400);
  });

  it("a tenant's replay holds its own events only", async () => {
    assert.equal((await d.api("POST", "/v1/tenants", { name: "acme" })).status, 201);
    tenantToken = (await d.api("POST", "/v1/tenants/acme/tokens", { name: "t" })).body.token;
    const made = await d.api("POST", "/v1/instances", { name: "mine" }, { token: tenantToken });
    assert.equal(made.status, 201);
    await d.waitEvent((e) => e.type === "instance.created" && e.instance === "acme.mine");
    const r = await Reader.open(d, "?since=0", tenantToken);
    await r.upTo(d.events.find((e) => e.type === "instance.created" && e.instance === "acme.mine")!.seq);
    assert.deepEqual(
      r.got.map((e) => e.type === "instance.created" && e.instance),
      ["mine"],
      "its own instance, under its own name; nothing of ev-1..3",
    );
    r.close();
  });

  it("says too old (410 events_expired) for a seq it never issued, and keeps counting across a restart", async () => {
    const latest = lastSeq(d);
    const refused = await new Promise<{ status: number; body: string }>((resolve) => {
      const ws = d.ws(`/v1/events?since=${latest + 1000}`);
      ws.on("unexpected-response", (_q, res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      ws.on("error", () => {});
    });
    assert.equal(refused.status, 410);
    const err = JSON.parse(refused.body).error;
    assert.equal(err.code, "events_expired");
    assert.deepEqual(err.details, { since: latest + 1000, oldest: 1, latest });

    const stateDir = d.stateDir;
    await d.kill("SIGTERM");
    d = await TestDaemon.start({ stateDir, logLevel: "info" });
    await d.create("ev-after");
    const e = await d.waitEvent((x) => x.type === "instance.created" && x.instance === "ev-after");
    assert.ok(e.seq > latest, "a seq is never reused by the next daemon");
    const r = await Reader.open(d, `?since=${latest}`);
    await r.upTo(e.seq);
    assert.ok(r.got.some((x) => x.seq === e.seq) && r.got.every((x) => x.seq > latest), "since from before the restart still works");
    r.close();
  });
});
