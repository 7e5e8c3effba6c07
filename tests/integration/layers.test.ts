import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, utimesSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { TestDaemon } from "../harness/daemon.js";

const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

describe("copy-on-write layers on real guests", { timeout: 400_000 }, () => {
  let d: TestDaemon;
  let imagePath: string;
  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
    imagePath = (await d.api("GET", "/v1/images")).body.images[0].path;
  });
  after(async () => {
    await d?.stop();
  });

  it("20 instances over one image each keep their own data across a reboot; the image stays byte-identical", async () => {
    const before = sha(imagePath);
    const names = Array.from({ length: 20 }, (_, i) => `many-${i}`);
    for (const n of names) await d.create(n);
    for (let i = 0; i < names.length; i += 5) {
      await Promise.all(
        names.slice(i, i + 5).map(async (n, k) => {
          await d.mustAct(n, "start");
          const con = await d.shell(n);
          await con.run(`echo own-data-${i + k}-$((${i + k}*3)) > /root/mine; sync`);
          con.close();
          await d.mustAct(n, "reboot");
          const again = await d.shell(n);
          assert.match(await again.run("cat /root/mine"), new RegExp(`own-data-${i + k}-${(i + k) * 3}`));
          again.close();
          await d.mustAct(n, "halt");
        }),
      );
    }
    assert.equal(sha(imagePath), before, "the shared image was never written");
    for (const n of names) await d.api("DELETE", `/v1/instances/${n}`);
  });

  it("snapshot, more writes, restore: the guest sees the snapshot's data", async () => {
    await d.create("snap-1");
    await d.mustAct("snap-1", "start");
    let con = await d.shell("snap-1");
    await con.run("echo before-snapshot > /root/state; sync");
    // a running guest: synced and paused while its disk is read, running again afterwards
    const snap = await d.api("POST", "/v1/instances/snap-1/snapshots", { name: "s1" });
    assert.equal(snap.status, 201, JSON.stringify(snap.body));
    assert.equal(snap.body.result.name, "s1");
    assert.equal((await d.get("snap-1")).state, "running");
    await con.run("echo after-snapshot > /root/state; sync");
    con.close();
    await d.mustAct("snap-1", "shutdown");
    const restored = await d.api("POST", "/v1/instances/snap-1/snapshots/s1/restore");
    assert.equal(restored.status, 200, JSON.stringify(restored.body));
    await d.mustAct("snap-1", "start");
    con = await d.shell("snap-1");
    assert.match(await con.run("cat /root/state"), /before-snapshot/);
    con.close();
    const running = await d.api("POST", "/v1/instances/snap-1/snapshots/s1/restore");
    assert.equal(running.body.error.code, "invalid_state");
    await d.mustAct("snap-1", "halt");
  });

  it("a clone from a snapshot sees its source's data and then diverges; the snapshot cannot be deleted under it", async () => {
    const c = await d.api("POST", "/v1/instances/snap-1/clone", { name: "clone-1", snapshot: "s1" });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    await d.mustAct("clone-1", "start");
    await d.mustAct("snap-1", "start");
    const cc = await d.shell("clone-1");
    assert.match(await cc.run("cat /root/state"), /before-snapshot/);
    await cc.run("echo clone-only > /root/state; sync");
    const sc = await d.shell("snap-1");
    assert.match(await sc.run("cat /root/state"), /before-snapshot/, "the source does not see the clone's writes");
    cc.close();
    sc.close();
    const del = await d.api("DELETE", "/v1/instances/snap-1/snapshots/s1");
    assert.equal(del.status, 409);
    assert.equal(del.body.error.code, "snapshot_in_use");
    assert.ok(del.body.error.details.dependants.includes("clone-1"));
    await d.mustAct("clone-1", "halt");
    await d.mustAct("snap-1", "halt");
  });

  it("a full copy clone and a merge give images that boot on their own with the data", async () => {
    const full = await d.api("POST", "/v1/instances/clone-1/clone", { name: "copy-1" });
    assert.equal(full.status, 201, JSON.stringify(full.body));
    const merged = await d.api("POST", "/v1/instances/clone-1/merge", { image: "clone-1-flat" });
    assert.equal(merged.status, 201, JSON.stringify(merged.body));
    assert.deepEqual(merged.body.result, { image: "clone-1-flat", switched: true });
    await d.api("POST", "/v1/instances", { name: "from-merge", image: "clone-1-flat" });
    for (const n of ["copy-1", "from-merge", "clone-1"]) {
      await d.mustAct(n, "start");
      const con = await d.shell(n);
      assert.match(await con.run("cat /root/state"), /clone-only/, n);
      con.close();
      await d.mustAct(n, "halt");
    }
  });

  it("a touched backing file makes its instance refuse to start, naming the files", async () => {
    const img = (await d.api("GET", "/v1/images")).body.images.find((i: any) => i.name === "clone-1-flat");
    utimesSync(img.path, new Date(), new Date(Date.now() + 60_000));
    const r = await d.act("from-merge", "start");
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, "disk_backing_changed");
    assert.ok(r.body.error.message.includes(img.path), r.body.error.message);
    assert.equal((await d.get("from-merge")).state, "stopped");
    const inUse = await d.api("DELETE", "/v1/images/clone-1-flat");
    assert.equal(inUse.body.error.code, "image_in_use");
    // verification on demand: the content (sha256) is intact, but the layers over it no longer match
    const v = await d.api("POST", "/v1/images/clone-1-flat/verify");
    assert.equal(v.status, 200, JSON.stringify(v.body));
    assert.equal(v.body.actualSha256, v.body.expectedSha256);
    assert.equal(v.body.ok, false);
    const layer = v.body.layers.find((l: any) => l.disk === "from-merge-root");
    assert.equal(layer.ok, false);
    assert.match(layer.reason, /mtime/);
    const good = await d.api("POST", "/v1/images/busybox/verify");
    assert.equal(good.body.ok, true);
    const disks = (await d.api("GET", "/v1/disks")).body.disks;
    const copyRoot = disks.find((x: any) => x.name === "copy-1-root");
    assert.equal(copyRoot.backingSizeBytes, 64 * 1024 * 1024, "the COW header's record of its backing");
    assert.ok(copyRoot.backingMtime > 1_700_000_000);
  });

  it("a start while a merge with switch runs is refused (instance_busy); the instance ends on the merged image", async () => {
    // a 256 MiB disk: the flatten takes seconds, a start request milliseconds
    const built = await d.api("POST", "/v1/images/build", { name: "mid", recipe: "busybox", sizeMiB: 256 });
    assert.equal(built.status, 201, JSON.stringify(built.body));
    await d.api("POST", "/v1/instances", { name: "merging", image: "mid" });
    const merge = await d.api("POST", "/v1/instances/merging/merge", { image: "merging-flat", wait: false });
    assert.equal(merge.status, 202, JSON.stringify(merge.body));
    const start = await d.act("merging", "start");
    assert.equal(start.status, 409, JSON.stringify(start.body));
    assert.equal(start.body.error.code, "instance_busy");
    await d.waitEvent((e) => e.type === "operation" && e.operation.id === merge.body.operation.id && e.operation.status !== "running", 120_000);
    const op = (await d.api("GET", `/v1/operations/${merge.body.operation.id}`)).body;
    assert.equal(op.status, "succeeded", JSON.stringify(op));
    const img = (await d.api("GET", "/v1/images")).body.images.find((i: any) => i.name === "merging-flat");
    assert.deepEqual([img.owner, img.shared], [null, false], "an admin's merge is the admin's, not shared, unless asked");
    assert.equal((await d.get("merging")).disks[0]!.backingPath, img.path);
    await d.mustAct("merging", "start");
    await d.mustAct("merging", "halt");
  });
});
