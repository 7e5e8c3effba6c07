import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Cmp, Etcd, EtcdError, Ops, prefixEnd } from "../../core/fleet/etcd.js";
import { PrefixMirror } from "../../core/fleet/mirror.js";
import { TestEtcd } from "../harness/etcd.js";

const until = async (what: string, pred: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("etcd client over the v3 JSON gateway (a real etcd)", () => {
  let server: TestEtcd;
  let etcd: Etcd;
  before(async () => {
    server = await TestEtcd.start();
    etcd = new Etcd([server.url]);
  });
  after(async () => server.stop());

  it("puts, gets and ranges keys with any UTF-8 in keys and values", async () => {
    await etcd.put("/t/a", "één");
    await etcd.put("/t/b", JSON.stringify({ x: 1 }));
    await etcd.put("/u/c", "outside");
    assert.equal((await etcd.get("/t/a"))?.value, "één");
    const r = await etcd.range("/t/");
    assert.deepEqual(
      r.kvs.map((k) => k.key),
      ["/t/a", "/t/b"],
    );
    assert.ok(r.revision >= 3);
    assert.equal(await etcd.get("/t/none"), null);
    assert.equal(await etcd.delete("/t/a"), 1);
    assert.equal(await etcd.get("/t/a"), null);
  });

  it("a transaction creates a key only once, and checks a revision", async () => {
    const first = await etcd.txn([Cmp.absent("/claim/x")], [Ops.put("/claim/x", "host-a")], [Ops.get("/claim/x")]);
    assert.equal(first.succeeded, true);
    const second = await etcd.txn([Cmp.absent("/claim/x")], [Ops.put("/claim/x", "host-b")], [Ops.get("/claim/x")]);
    assert.equal(second.succeeded, false);
    assert.equal(second.ranges[0]?.[0]?.value, "host-a", "the failure branch's read shows who has it");
    const kv = (await etcd.get("/claim/x"))!;
    const stale = await etcd.txn([Cmp.modRevision("/claim/x", kv.modRevision - 1)], [Ops.put("/claim/x", "c")]);
    assert.equal(stale.succeeded, false);
    const fresh = await etcd.txn([Cmp.modRevision("/claim/x", kv.modRevision)], [Ops.put("/claim/x", "c"), Ops.delPrefix("/t/")]);
    assert.equal(fresh.succeeded, true);
    assert.equal((await etcd.get("/claim/x"))?.value, "c");
    assert.equal((await etcd.range("/t/")).kvs.length, 0);
  });

  it("a key on a lease goes when the lease is not kept alive, and stays while it is", async () => {
    const kept = await etcd.grant(2);
    const lapsed = await etcd.grant(2);
    await etcd.put("/lease/kept", "1", kept.id);
    await etcd.put("/lease/lapsed", "1", lapsed.id);
    for (let i = 0; i < 5; i++) {
      assert.ok((await etcd.keepAlive(kept.id)) > 0);
      await new Promise((r) => setTimeout(r, 700));
    }
    assert.equal(await etcd.get("/lease/lapsed"), null, "its lease expired");
    assert.ok(await etcd.get("/lease/kept"));
    assert.equal(await etcd.keepAlive(lapsed.id), 0, "an expired lease answers TTL 0");
    await etcd.revoke(kept.id);
    assert.equal(await etcd.get("/lease/kept"), null, "revoking deletes its keys at once");
    await etcd.revoke(kept.id); // already gone: no error
  });

  it("a mirror follows a prefix: what exists at start, then every put and delete", async () => {
    await etcd.put("/m/one", "1");
    const m = new PrefixMirror(etcd, "/m/");
    const seen: string[] = [];
    m.on((k, kv) => seen.push(`${k}=${kv?.value ?? "deleted"}`));
    await m.start();
    assert.equal(m.get("/m/one")?.value, "1");
    await etcd.put("/m/two", "2");
    await etcd.delete("/m/one");
    await etcd.put("/other", "x");
    await until("the watch events", () => seen.length >= 3);
    assert.deepEqual(seen, ["/m/one=1", "/m/two=2", "/m/one=deleted"], "the first read is announced too");
    assert.deepEqual([...m.kvs.keys()], ["/m/two"]);
    m.close();
  });

  it("a mirror reads the prefix again after etcd restarts, and watches on", async () => {
    const m = new PrefixMirror(etcd, "/r/", () => {}, 100);
    await m.start();
    await etcd.put("/r/a", "1");
    await until("the first put", () => m.get("/r/a") !== undefined);
    await server.restart();
    await etcd.put("/r/b", "2");
    await until("the second put", () => m.get("/r/b") !== undefined);
    m.close();
  });

  it("an unreachable endpoint is skipped for the next; none reachable is an EtcdError", async () => {
    const both = new Etcd(["http://127.0.0.1:1", server.url]);
    await both.put("/f/x", "1");
    assert.equal((await both.get("/f/x"))?.value, "1");
    const none = new Etcd(["http://127.0.0.1:1"], { timeoutMs: 500 });
    await assert.rejects(none.get("/f/x"), (e: unknown) => e instanceof EtcdError && e.grpcCode === null);
  });

  it("the range end of a prefix is the prefix with its last byte raised", () => {
    assert.equal(Buffer.from(prefixEnd("/a/"), "base64").toString(), "/a0");
  });
});
