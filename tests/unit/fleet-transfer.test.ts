import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { dataBytes, encodeExtents, openSource, receiveFile, sourceSha256 } from "../../core/fleet/transfer.js";

const MiB = 1024 * 1024;
const dir = mkdtempSync("/tmp/umld-transfer-");
after(() => rmSync(dir, { recursive: true, force: true }));

/** A 64 MiB sparse file with 1 MiB of data at 0, 2 MiB at 20 MiB, and 4 KiB at its last page. */
function sparseFile(name: string): string {
  const p = join(dir, name);
  const fd = openSync(p, "w");
  ftruncateSync(fd, 64 * MiB);
  writeSync(fd, randomBytes(MiB), 0, MiB, 0);
  writeSync(fd, randomBytes(2 * MiB), 0, 2 * MiB, 20 * MiB);
  writeSync(fd, randomBytes(4096), 0, 4096, 64 * MiB - 4096);
  closeSync(fd);
  return p;
}

const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

async function collect(gen: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const b of gen) out.push(b);
  return out;
}

describe("fleet file transfer (extents)", () => {
  it("sends the data extents only, hashes like sha256 of the whole file, and the copy is equal and sparse", async () => {
    const p = sparseFile("a");
    const src = await openSource(p);
    try {
      assert.equal(src.size, 64 * MiB);
      assert.ok(dataBytes(src) <= 4 * MiB, `sends ${dataBytes(src)} bytes of a file holding ~3 MiB`);
      const digest = await sourceSha256(src);
      assert.equal(digest, sha(p));
      let counted = 0;
      const frames = await collect(encodeExtents(src, (n) => (counted += n)));
      assert.equal(counted, dataBytes(src));
      const dest = join(dir, "a.copy");
      await receiveFile(frames, dest, src.size, digest);
      assert.equal(statSync(dest).size, 64 * MiB);
      assert.equal(sha(dest), digest);
      assert.ok(statSync(dest).blocks * 512 <= 5 * MiB, `the copy allocates ${statSync(dest).blocks * 512} bytes`);
    } finally {
      await src.fh.close();
    }
  });

  it("refuses and removes a copy whose content is not the announced sha256, size, or order", async () => {
    const p = sparseFile("b");
    const src = await openSource(p);
    try {
      const digest = await sourceSha256(src);
      const frames = await collect(encodeExtents(src, () => {}));
      const dest = join(dir, "b.copy");
      await assert.rejects(receiveFile(frames, dest, src.size, "0".repeat(64)), /sha256/);
      assert.equal(existsSync(dest), false);
      await assert.rejects(receiveFile(frames, dest, src.size - MiB, digest), /outside the announced size/);
      assert.equal(existsSync(dest), false);
      const swapped = [frames[2]!, frames[3]!, frames[0]!, frames[1]!, ...frames.slice(4)];
      await assert.rejects(receiveFile(swapped, dest, src.size, digest), /out of order/);
      await assert.rejects(receiveFile(frames.slice(0, -1), dest, src.size, digest), /ended early/);
      assert.equal(existsSync(dest), false);
    } finally {
      await src.fh.close();
    }
  });
});
