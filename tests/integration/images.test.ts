import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { layoutBusyboxRoot } from "../../core/storage/busybox-image.js";
import { TestDaemon } from "../harness/daemon.js";

describe("image import", { timeout: 180_000 }, () => {
  let d: TestDaemon;
  let dir: string;
  before(async () => {
    dir = mkdtempSync("/tmp/umld-img-");
    await layoutBusyboxRoot(`${dir}/root`);
    writeFileSync(`${dir}/root/etc/motd`, "imported from a tar archive\n");
    execFileSync("tar", ["-czf", `${dir}/root.tar.gz`, "-C", `${dir}/root`, "."]);
    d = await TestDaemon.start();
  });
  after(async () => {
    await d?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("imports a tar archive as a sealed image that boots, with progress events", async () => {
    const ev = d.events.length;
    const r = await d.api("POST", "/v1/images", { name: "from-tar", source: { type: "tar", path: `${dir}/root.tar.gz` }, readiness: "notify" });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.image.kind, "imported");
    assert.match(r.body.image.sha256, /^[0-9a-f]{64}$/);
    const sealed = statSync(r.body.image.path);
    assert.deepEqual([sealed.mode & 0o777, sealed.uid], [0o640, 0], "sealed read-only, root's, readable by its guests' group only");
    assert.notEqual(sealed.gid, 0, "the shared catalogue's group");
    const progress = d.events.slice(ev).filter((e) => e.type === "operation" && e.operation.id === r.body.operation.id && e.operation.progress);
    assert.ok(progress.length >= 1, "progress was streamed");
    assert.equal(progress[0]!.type === "operation" && progress[0]!.operation.progress!.unit, "steps");

    await d.api("POST", "/v1/instances", { name: "tarvm", image: "from-tar" });
    const vm = await d.mustAct("tarvm", "start");
    assert.equal(vm.ready, true);
    const con = await d.shell("tarvm");
    assert.match(await con.run("cat /etc/motd"), /imported from a tar archive/);
    con.close();
    await d.mustAct("tarvm", "halt");
    assert.deepEqual((await d.api("GET", "/v1/images")).body.images.find((i: any) => i.name === "from-tar").dependants, ["tarvm"]);
  });

  it("imports a directory and a raw ext4 file; refuses what is not an image and changes nothing", async () => {
    const fromDir = await d.api("POST", "/v1/images", { name: "from-dir", source: { type: "dir", path: `${dir}/root` }, sizeMiB: 48 });
    assert.equal(fromDir.status, 201, JSON.stringify(fromDir.body));
    assert.equal(fromDir.body.image.sizeBytes, 48 * 1024 * 1024);
    copyFileSync(fromDir.body.image.path, `${dir}/copy.ext4`); // umld's own files are no import source
    const raw = await d.api("POST", "/v1/images", { name: "from-raw", source: { type: "raw", path: `${dir}/copy.ext4` } });
    assert.equal(raw.status, 201);
    assert.equal(raw.body.image.sha256, fromDir.body.image.sha256, "a raw import is a byte-identical copy");
    const before = (await d.api("GET", "/v1/images")).body.images.length;
    mkdirSync(`${dir}/empty`, { recursive: true });
    writeFileSync(`${dir}/notext.img`, Buffer.alloc(4096));
    for (const [body, code] of [
      [{ name: "x1", source: { type: "raw", path: `${dir}/notext.img` } }, "invalid_image"],
      [{ name: "x2", source: { type: "raw", path: `${dir}/missing` } }, "invalid_image"],
      [{ name: "x3", source: { type: "tar", path: `${dir}/root` } }, "invalid_image"],
      [{ name: "x4", source: { type: "dir", path: `${dir}/root.tar.gz` } }, "invalid_image"],
      [{ name: "x5", source: { type: "tar", path: `${dir}/notext.img` } }, "invalid_image"],
      [{ name: "x6", source: { type: "dir", path: "relative" } }, "invalid_request"],
      [{ name: "x7", source: { type: "dir", path: `${dir}/empty` } }, "invalid_image"],
      [{ name: "x8", source: { type: "raw", path: fromDir.body.image.path } }, "invalid_image"],
      [{ name: "x9", source: { type: "dir", path: d.stateDir } }, "invalid_image"],
      [{ name: "x10", source: { type: "dir", path: "/etc" } }, "invalid_image"],
      [{ name: "x11", source: { type: "dir", path: "/" } }, "invalid_image"],
      [{ name: "from-dir", source: { type: "dir", path: `${dir}/root` } }, "image_exists"],
    ] as const) {
      const r = await d.api("POST", "/v1/images", body);
      assert.equal(r.body.error?.code, code, `${JSON.stringify(body)} → ${JSON.stringify(r.body)}`);
    }
    assert.equal((await d.api("GET", "/v1/images")).body.images.length, before);
  });

  it("deletes an image only when nothing is layered on it, never the default", async () => {
    const inUse = await d.api("DELETE", "/v1/images/from-tar");
    assert.equal(inUse.status, 409);
    assert.equal(inUse.body.error.code, "image_in_use");
    assert.deepEqual(inUse.body.error.details.dependants, ["tarvm"]);
    assert.equal((await d.api("DELETE", "/v1/images/busybox")).body.error.code, "image_in_use");
    const path = (await d.api("GET", "/v1/images")).body.images.find((i: any) => i.name === "from-raw").path;
    assert.equal((await d.api("DELETE", "/v1/images/from-raw")).status, 200);
    assert.ok(!existsSync(path));
    await d.api("DELETE", "/v1/instances/tarvm");
    assert.equal((await d.api("DELETE", "/v1/images/from-tar")).status, 200);
  });
});
