import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { after, describe, it } from "node:test";
import { cowLayout, createCow } from "../../core/uml/cow.js";
import { mergeCow } from "../../core/uml/cow-merge.js";

const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

/** Writes `data` at `sector` of a COW the way UML does: the data, then its bitmap bit. */
function cowWrite(cowPath: string, size: number, sector: number, data: Buffer): void {
  const l = cowLayout(size);
  const fd = openSync(cowPath, "r+");
  try {
    writeSync(fd, data, 0, 512, l.dataOffset + sector * 512);
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, l.bitmapOffset + (sector >> 3));
    b[0]! |= 1 << (sector & 7);
    writeSync(fd, b, 0, 1, l.bitmapOffset + (sector >> 3));
  } finally {
    closeSync(fd);
  }
}

describe("COW merge (flatten)", () => {
  const dir = mkdtempSync("/tmp/umld-merge-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("gives the same bytes as uml_moo: COW sectors over the backing's, the rest untouched", () => {
    const size = 8 * 1024 * 1024 + 1536; // not a multiple of the chunk: tests the tail
    const backing = `${dir}/back.img`;
    const pattern = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4096) pattern.writeUInt32LE(i, i); // sparse-ish, non-zero
    writeFileSync(backing, pattern);
    utimesSync(backing, new Date(1_700_000_000_000), new Date(1_700_000_000_000));
    const cow = `${dir}/a.cow`;
    createCow(cow, backing);
    for (const s of [0, 1, 9, 4095, 4096, 8191, 16386]) cowWrite(cow, size, s, Buffer.alloc(512, s % 250 + 1));
    cowWrite(cow, size, 100, Buffer.alloc(512, 0)); // a zeroed sector over non-zero backing must read as zeros

    const ours = `${dir}/ours.img`;
    const seen: number[] = [];
    const r = mergeCow(cow, ours, (done) => seen.push(done));
    assert.equal(r.cowSectors, 8);
    assert.equal(r.sizeBytes, size);
    assert.equal(seen.at(-1), size, "progress ends at the full size");
    execFileSync("uml_moo", [cow, `${dir}/moo.img`], { stdio: "ignore" });
    assert.equal(sha(ours), sha(`${dir}/moo.img`));
    assert.equal(sha(backing), createHash("sha256").update(pattern).digest("hex"), "the backing is untouched");
  });

  it("refuses a COW whose backing changed, and never overwrites an existing output", () => {
    const backing = `${dir}/b2.img`;
    writeFileSync(backing, Buffer.alloc(64 * 1024, 7));
    const cow = `${dir}/b2.cow`;
    createCow(cow, backing);
    assert.throws(() => mergeCow(cow, `${dir}/ours.img`), /EEXIST/);
    utimesSync(backing, new Date(), new Date(Date.now() + 10_000));
    assert.throws(() => mergeCow(cow, `${dir}/b2.out`), /mtime/);
  });
});
