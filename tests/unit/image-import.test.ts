import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { after, describe, it } from "node:test";
import { importImage, sourceRefusal } from "../../core/storage/image-import.js";
import type { UmldError } from "../../core/errors.js";

const root = process.getuid?.() === 0;

describe("image import bounds", () => {
  const dir = mkdtempSync("/tmp/umld-import-");
  mkdirSync(`${dir}/state`);
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("refuses sources in or holding sensitive host directories and umld's state", () => {
    const state = "/var/lib/umld";
    for (const p of ["/", "/etc", "/etc/ssh", "/root", "/proc/1", "/sys", "/dev/sda", state, `${state}/images/x.ext4`, "/var/lib", "/var"]) {
      assert.notEqual(sourceRefusal(p, state), null, p);
    }
    for (const p of ["/srv/images/a.tar", "/tmp/root", "/var/lib/other", "/etcetera", "/home/u/rootfs"]) assert.equal(sourceRefusal(p, state), null, p);
  });

  it("a symlink into /etc is judged by where it leads", async () => {
    const link = `${dir}/innocent`;
    execFileSync("ln", ["-s", "/etc", link]);
    await assert.rejects(
      importImage({ type: "dir", path: link }, `${dir}/out.ext4`, "x", undefined, () => {}, { stateDir: `${dir}/state` }),
      (e: UmldError) => e.code === "invalid_image" && /\/etc/.test(e.message),
    );
    assert.ok(!existsSync(`${dir}/out.ext4`));
  });

  it("a tar bomb fills a bounded tmpfs, not the disk: refused, nothing left mounted or written", { skip: !root && "needs root (mount)" }, async () => {
    mkdirSync(`${dir}/bomb`);
    execFileSync("dd", ["if=/dev/zero", `of=${dir}/bomb/zeros`, "bs=1M", "count=24"], { stdio: "ignore" });
    execFileSync("tar", ["-czf", `${dir}/bomb.tar.gz`, "-C", `${dir}/bomb`, "."]);
    const out = `${dir}/images/bomb.ext4`;
    mkdirSync(`${dir}/images`);
    await assert.rejects(
      importImage({ type: "tar", path: `${dir}/bomb.tar.gz` }, out, "bomb", 16, () => {}, { stateDir: `${dir}/state` }),
      (e: UmldError) => e.code === "invalid_image" && /import limit/.test(e.message),
    );
    assert.deepEqual(readdirSync(`${dir}/images`), [], "no image, no partial file, no extract directory");
    assert.ok(!readFileSync("/proc/self/mountinfo", "utf8").includes(`${dir}/images`), "the tmpfs is unmounted");
  });

  it("too many files hit the inode bound", { skip: !root && "needs root (mount)" }, async () => {
    mkdirSync(`${dir}/many`);
    for (let i = 0; i < 300; i++) writeFileSync(`${dir}/many/f${i}`, "");
    execFileSync("tar", ["-cf", `${dir}/many.tar`, "-C", `${dir}/many`, "."]);
    const limits = { maxBytes: 64 << 20, maxInodes: 100, stepTimeoutMs: 60_000 };
    await assert.rejects(
      importImage({ type: "tar", path: `${dir}/many.tar` }, `${dir}/images/many.ext4`, "many", undefined, () => {}, { stateDir: `${dir}/state`, limits }),
      /import limit/,
    );
    await assert.rejects(
      importImage({ type: "dir", path: `${dir}/many` }, `${dir}/images/many.ext4`, "many", undefined, () => {}, { stateDir: `${dir}/state`, limits }),
      /import limit of 100 files/,
    );
    assert.deepEqual(readdirSync(`${dir}/images`), []);
  });

  it("a tar is extracted without its owners and modes, within the limits: an image", { skip: !root && "needs root (mount)" }, async () => {
    mkdirSync(`${dir}/tree/etc`, { recursive: true });
    writeFileSync(`${dir}/tree/etc/motd`, "hello\n");
    execFileSync("tar", ["-cf", `${dir}/tree.tar`, "--owner=1234", "--group=1234", "-C", `${dir}/tree`, "."]);
    const out = `${dir}/images/tree.ext4`;
    const r = await importImage({ type: "tar", path: `${dir}/tree.tar` }, out, "tree", 16, () => {}, { stateDir: `${dir}/state` });
    assert.equal(r.sizeBytes, 16 << 20);
    const listing = execFileSync("debugfs", ["-R", "stat /etc/motd", out], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    assert.match(listing, /User:\s+0\s+Group:\s+0/, "owned by root, not by the archive's 1234");
    assert.deepEqual(readdirSync(`${dir}/images`), ["tree.ext4"]);
  });
});
