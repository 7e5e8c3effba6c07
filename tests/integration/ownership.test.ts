import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, openSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { encodeCowHeader } from "../../core/uml/cow.js";
import { TestDaemon } from "../harness/daemon.js";

const LONG = "t".repeat(60); // past the old 55-character cut that lost the owner's dot

/** Images, quotas and tenant deletion with tenant tokens only: what a hostile tenant can reach of another's. */
describe("image ownership and quotas between tenants", { timeout: 400_000 }, () => {
  let d: TestDaemon;
  const tok: Record<string, string> = {};
  const as = (t: string) => ({ token: tok[t]! });
  const tenant = async (name: string, quotas: Record<string, number> = {}) => {
    assert.equal((await d.api("POST", "/v1/tenants", { name, quotas })).status, 201);
    tok[name] = (await d.api("POST", `/v1/tenants/${name}/tokens`, { name: "main" })).body.token;
  };
  const usage = async (t: string) => (await d.api("GET", `/v1/tenants/${t}`)).body.usage as { diskMiB: number; memoryMiB: number; snapshots: number };
  const imageFiles = () => readdirSync(`${d.stateDir}/images`).filter((f) => f.endsWith(".ext4")).length;
  const mustCreate = async (t: string, body: Record<string, unknown>) => {
    const r = await d.api("POST", "/v1/instances", { memoryMiB: 64, ...body }, as(t));
    assert.equal(r.status, 201, JSON.stringify(r.body));
  };
  const mustSnapshot = async (t: string, inst: string, snap: string) => {
    const r = await d.api("POST", `/v1/instances/${inst}/snapshots`, { name: snap }, as(t));
    assert.equal(r.status, 201, JSON.stringify(r.body));
  };

  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
    for (const t of ["acme", "bobco", LONG]) await tenant(t);
  });
  after(async () => {
    await d?.stop();
  });

  it("tenant B cannot see, boot from, clone, attach or delete tenant A's snapshot images: exactly like absent ones", async () => {
    await mustCreate("acme", { name: "web" });
    await mustSnapshot("acme", "web", "s1");
    const mine = (await d.api("GET", "/v1/images", undefined, as("acme"))).body.images.find((i: { name: string }) => i.name === "web-s1");
    assert.deepEqual([mine?.owner, mine?.shared, mine?.kind], ["acme", false, "snapshot"], "acme sees its own snapshot image");
    const theirs = (await d.api("GET", "/v1/images", undefined, as("bobco"))).body.images;
    assert.deepEqual(
      theirs.map((i: { name: string }) => i.name),
      ["busybox"],
      "bobco sees the shared catalogue only",
    );
    assert.ok(!JSON.stringify(theirs).includes("acme"));

    await mustCreate("bobco", { name: "b1" });
    const same = async (what: string, call: (name: string) => Promise<{ status: number; body: any }>) => {
      const other = await call("web-s1");
      const none = await call("nothing-here");
      assert.equal(other.status, none.status, `${what}: ${JSON.stringify(other.body)}`);
      assert.equal(other.body.error.code, none.body.error.code, what);
      assert.equal(other.body.error.message.replace("web-s1", "X"), none.body.error.message.replace("nothing-here", "X"), what);
      assert.ok([403, 404].includes(other.status), `${what}: ${other.status}`);
    };
    await same("boot from", (n) => d.api("POST", "/v1/instances", { name: "steal", image: n }, as("bobco")));
    await same("attach", (n) => d.api("POST", "/v1/instances/b1/disks", { image: n }, as("bobco")));
    await same("delete", (n) => d.api("DELETE", `/v1/images/${n}`, undefined, as("bobco")));
    await same("verify", (n) => d.api("POST", `/v1/images/${n}/verify`, undefined, as("bobco")));
    for (const path of ["/v1/images/acme.web-s1", "/v1/images/acme.nothing"]) {
      assert.equal((await d.api("DELETE", path, undefined, as("bobco"))).body.error.code, "image_not_found", "a stored name is no way around");
    }
    const clone = await d.api("POST", "/v1/instances/web/clone", { name: "stolen", snapshot: "s1" }, as("bobco"));
    assert.equal(clone.body.error.code, "instance_not_found");
    assert.equal((await d.api("GET", "/v1/instances", undefined, as("bobco"))).body.instances.length, 1, "bobco made nothing");

    // acme uses its own: boots from it; its image of a snapshot is deleted through the snapshot
    await mustCreate("acme", { name: "again", image: "web-s1" });
    assert.equal((await d.api("PUT", "/v1/instances/again/state", { action: "start" }, as("acme"))).status, 200);
    assert.equal((await d.api("PUT", "/v1/instances/again/state", { action: "halt" }, as("acme"))).status, 200);
    const held = await d.api("DELETE", "/v1/images/web-s1", undefined, as("acme"));
    assert.equal(held.body.error.code, "image_in_use");
    assert.equal((await d.api("DELETE", "/v1/images/busybox", undefined, as("acme"))).body.error.code, "image_not_found", "a tenant deletes only its own images");
  });

  it("a 60-character tenant's snapshot keeps its owner", async () => {
    await mustCreate(LONG, { name: "web" });
    await mustSnapshot(LONG, "web", "s1");
    const own = (await d.api("GET", "/v1/images", undefined, as(LONG))).body.images.find((i: { name: string }) => i.name === "web-s1");
    assert.equal(own?.owner, LONG);
    const stored = (await d.api("GET", "/v1/images")).body.images.map((i: { name: string }) => i.name);
    assert.ok(stored.includes(`${LONG}.web-s1`), stored.join());
    assert.deepEqual(
      (await d.api("GET", "/v1/images", undefined, as("bobco"))).body.images.map((i: { name: string }) => i.name),
      ["busybox"],
    );
    assert.equal((await d.api("POST", "/v1/instances", { name: "x", image: "web-s1" }, as("bobco"))).status, 404);
  });

  it("snapshot and clone loops are stopped by the disk quota; deleting an instance takes its unused images along", async () => {
    await tenant("loop", { maxDiskMiB: 200 });
    const files = imageFiles();
    for (let round = 0; round < 2; round++) {
      await mustCreate("loop", { name: "w" });
      await mustSnapshot("loop", "w", "s1");
      await mustSnapshot("loop", "w", "s2");
      assert.equal((await usage("loop")).diskMiB, 192, "the instance and two 64 MiB snapshot images");
      const third = await d.api("POST", "/v1/instances/w/snapshots", { name: "s3" }, as("loop"));
      assert.equal(third.body.error?.code, "quota_exceeded", JSON.stringify(third.body));
      assert.deepEqual([third.body.error.details.quota, third.body.error.details.requested], ["diskMiB", 64]);
      assert.equal((await d.api("DELETE", "/v1/instances/w", undefined, as("loop"))).status, 200);
      assert.equal((await usage("loop")).diskMiB, 0);
      assert.equal(imageFiles(), files, "no orphan image files");
    }
    await mustCreate("loop", { name: "w" });
    const c1 = await d.api("POST", "/v1/instances/w/clone", { name: "c1" }, as("loop"));
    assert.equal(c1.status, 201, JSON.stringify(c1.body));
    assert.equal((await usage("loop")).diskMiB, 192, "source, the full copy it owns, and the clone's disk");
    const c2 = await d.api("POST", "/v1/instances/w/clone", { name: "c2" }, as("loop"));
    assert.equal(c2.body.error?.code, "quota_exceeded");
    assert.equal((await d.api("DELETE", "/v1/instances/c1", undefined, as("loop"))).status, 200);
    assert.equal((await usage("loop")).diskMiB, 64, "the clone's full copy went with it");

    // a snapshot a clone still sits on outlives its instance: owned, counted, deletable once free
    await mustSnapshot("loop", "w", "s1");
    assert.equal((await d.api("POST", "/v1/instances/w/clone", { name: "c3", snapshot: "s1" }, as("loop"))).status, 201);
    assert.equal((await d.api("DELETE", "/v1/instances/w", undefined, as("loop"))).status, 200);
    assert.equal((await usage("loop")).diskMiB, 128, "the kept snapshot image still counts");
    const kept = (await d.api("GET", "/v1/images", undefined, as("loop"))).body.images.find((i: { name: string }) => i.name === "w-s1");
    assert.deepEqual(kept?.dependants, ["c3"]);
    assert.equal((await d.api("DELETE", "/v1/images/w-s1", undefined, as("loop"))).body.error.code, "image_in_use");
    assert.equal((await d.api("DELETE", "/v1/instances/c3", undefined, as("loop"))).status, 200);
    assert.equal((await d.api("DELETE", "/v1/images/w-s1", undefined, as("loop"))).status, 200);
    assert.equal((await usage("loop")).diskMiB, 0);
    assert.equal(imageFiles(), files);
  });

  it("a clone reserves the memory it boots with, not its source's", async () => {
    await tenant("mem", { maxMemoryMiB: 256 });
    await mustCreate("mem", { name: "small" });
    const big = await d.api("POST", "/v1/instances/small/clone", { name: "huge", snapshot: undefined, memoryMiB: 1024 }, as("mem"));
    assert.equal(big.body.error?.code, "quota_exceeded", JSON.stringify(big.body));
    assert.deepEqual([big.body.error.details.quota, big.body.error.details.requested], ["memoryMiB", 1024]);
  });

  it("PATCH {diskQuotaMiB: null} works, and a disk quota set after it is still enforced", async () => {
    await tenant("pn");
    await mustCreate("pn", { name: "w", diskQuotaMiB: 100 });
    const p = await d.api("PATCH", "/v1/instances/w", { diskQuotaMiB: null }, as("pn"));
    assert.equal(p.status, 200, JSON.stringify(p.body));
    assert.equal((await usage("pn")).diskMiB, 64, "no per-instance quota counts as the image's size");
    assert.equal((await d.api("PATCH", "/v1/tenants/pn", { quotas: { maxDiskMiB: 100 } })).status, 200);
    const over = await d.api("POST", "/v1/instances", { name: "w2", memoryMiB: 64 }, as("pn"));
    assert.equal(over.body.error?.code, "quota_exceeded", "the quota holds: no NaN left in the reservations");
    assert.equal((await d.api("PATCH", "/v1/instances/w", { diskQuotaMiB: 90 }, as("pn"))).status, 200);
    assert.equal((await d.api("PATCH", "/v1/instances/w", { diskQuotaMiB: null }, as("pn"))).status, 200, "back to none, within the tenant's quota");
  });

  it("a tenant that owns a data disk or an image is not deleted, and keeps working", async () => {
    await tenant("keeper");
    await mustCreate("keeper", { name: "w" });
    assert.equal((await d.api("POST", "/v1/instances/w/disks", { sizeMiB: 8, disk: "data" }, as("keeper"))).status, 201);
    assert.equal((await d.api("DELETE", "/v1/instances/w/disks/ubdb", undefined, as("keeper"))).status, 200);
    assert.equal((await d.api("DELETE", "/v1/instances/w", undefined, as("keeper"))).status, 200);
    const r = await d.api("DELETE", "/v1/tenants/keeper");
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, "tenant_in_use");
    assert.deepEqual(r.body.error.details, { instances: [], networks: [], disks: ["keeper.data"], images: [] });
    assert.match(r.body.error.message, /1 disk \(keeper\.data\)/);
    assert.equal((await d.api("GET", "/v1/instances", undefined, as("keeper"))).status, 200, "its token still works");
    assert.equal((await d.api("DELETE", "/v1/disks/data", undefined, as("bobco"))).body.error.code, "disk_not_found", "not another tenant's to delete");
    assert.equal((await d.api("DELETE", "/v1/disks/data", undefined, as("keeper"))).status, 200);
    assert.equal((await d.api("DELETE", "/v1/tenants/keeper")).status, 200, "nothing owned: deleted");

    await tenant("imgs");
    await mustCreate("imgs", { name: "w" });
    await mustSnapshot("imgs", "w", "s1");
    assert.equal((await d.api("POST", "/v1/instances/w/clone", { name: "c", snapshot: "s1" }, as("imgs"))).status, 201);
    for (const n of ["w", "c"]) assert.equal((await d.api("DELETE", `/v1/instances/${n}`, undefined, as("imgs"))).status, 200);
    const refused = await d.api("DELETE", "/v1/tenants/imgs");
    assert.deepEqual([refused.body.error?.code, refused.body.error?.details.images], ["tenant_in_use", ["imgs.w-s1"]]);
    assert.equal((await d.api("DELETE", "/v1/images/w-s1", undefined, as("imgs"))).status, 200);
    assert.equal((await d.api("DELETE", "/v1/tenants/imgs")).status, 200);
  });

  it("a COW header rewritten to name another file: start and snapshot refuse, say no size or mtime, and read nothing of it", async () => {
    await mustCreate("acme", { name: "forged" });
    const view = (await d.api("GET", "/v1/instances/acme.forged")).body;
    const root = view.disks.find((x: { slot: string }) => x.slot === "ubda");
    const secret = `${d.stateDir}/secret-${process.pid}`;
    writeFileSync(secret, "SECRET-CONTENT".repeat(100));
    utimesSync(secret, new Date(1_111_111_111_000), new Date(1_111_111_111_000));
    const st = statSync(secret);
    const forge = (backingFile: string, size: number, mtime: number) => {
      const fd = openSync(root.path, "r+");
      writeSync(fd, encodeCowHeader({ backingFile, size, mtime }), 0, 4128, 0);
      closeSync(fd);
    };
    const numbers = [String(st.size), "1111111111", String(root.backingSizeBytes), String(root.backingMtime)];
    const clean = (text: string) => numbers.every((n) => !text.includes(n));
    const images = (await d.api("GET", "/v1/images")).body.images.length;
    const files = imageFiles();

    forge(secret, st.size, 1_111_111_111); // as exact as a guest could make it
    const start = await d.api("PUT", "/v1/instances/forged/state", { action: "start" }, as("acme"));
    const snap = await d.api("POST", "/v1/instances/forged/snapshots", { name: "leak" }, as("acme"));
    const problems = (await d.api("GET", "/v1/instances/forged", undefined, as("acme"))).body.problems as string[];
    for (const r of [start, snap]) {
      assert.equal(r.status, 409, JSON.stringify(r.body));
      assert.equal(r.body.error.code, "disk_backing_changed");
      assert.ok(clean(JSON.stringify(r.body)), JSON.stringify(r.body));
      assert.ok(!r.body.error.message.includes(secret), "the header's path is not echoed");
    }
    assert.equal(problems.length, 1);
    assert.ok(clean(problems[0]!), problems[0]);

    forge(`${d.stateDir}/no-such-file`, st.size, 1_111_111_111);
    const startMissing = await d.api("PUT", "/v1/instances/forged/state", { action: "start" }, as("acme"));
    assert.deepEqual(startMissing.body, start.body, "the same answer whether the named file exists or not");

    const fifo = `${d.stateDir}/fifo-${process.pid}`;
    execFileSync("mkfifo", [fifo]);
    forge(fifo, 0, 0); // opening a FIFO for reading would hang the daemon: it is never opened
    assert.equal((await d.api("POST", "/v1/instances/forged/snapshots", { name: "leak" }, as("acme"))).body.error.code, "disk_backing_changed");
    assert.equal((await d.api("PUT", "/v1/instances/forged/state", { action: "start" }, as("acme"))).body.error.code, "disk_backing_changed");

    assert.equal((await d.api("GET", "/v1/images")).body.images.length, images, "no image was made");
    assert.equal(imageFiles(), files);
    assert.equal((await d.get("acme.forged")).state, "stopped");
    rmSync(secret);
    rmSync(fifo);
  });
});
