import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { after, describe, it } from "node:test";
import { cowLayout, createCow, CowMismatchError, encodeCowHeader } from "../../core/uml/cow.js";
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
    const h = createCow(cow, backing);
    for (const s of [0, 1, 9, 4095, 4096, 8191, 16386]) cowWrite(cow, size, s, Buffer.alloc(512, (s % 250) + 1));
    cowWrite(cow, size, 100, Buffer.alloc(512, 0)); // a zeroed sector over non-zero backing must read as zeros

    const ours = `${dir}/ours.img`;
    const seen: number[] = [];
    const r = mergeCow(cow, { path: backing, size: h.size, mtime: h.mtime }, ours, (done) => seen.push(done));
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
    const h = createCow(cow, backing);
    const record = { path: backing, size: h.size, mtime: h.mtime };
    assert.throws(() => mergeCow(cow, record, `${dir}/ours.img`), /EEXIST/);
    utimesSync(backing, new Date(), new Date(Date.now() + 10_000));
    assert.throws(
      () => mergeCow(cow, record, `${dir}/b2.out`),
      (e: Error) => e instanceof CowMismatchError && /changed since the COW was made/.test(e.message),
    );
    assert.ok(!existsSync(`${dir}/b2.out`));
  });

  it("reads the recorded backing, never the one a forged header names: refused before any output, layout from constants", () => {
    const backing = `${dir}/b3.img`;
    writeFileSync(backing, Buffer.alloc(64 * 1024, 3));
    const cow = `${dir}/b3.cow`;
    const h = createCow(cow, backing);
    const secret = `${dir}/secret`;
    writeFileSync(secret, Buffer.alloc(64 * 1024, 0x53));
    utimesSync(secret, new Date(h.mtime * 1000), new Date(h.mtime * 1000));
    const fd = openSync(cow, "r+");
    writeSync(fd, encodeCowHeader({ backingFile: secret, size: h.size, mtime: h.mtime }), 0, 4128, 0);
    closeSync(fd);
    const out = `${dir}/b3.out`;
    assert.throws(
      () => mergeCow(cow, { path: backing, size: h.size, mtime: h.mtime }, out),
      (e: Error) => e instanceof CowMismatchError && !e.message.includes(String(h.size)),
    );
    assert.ok(!existsSync(out), "nothing was written");
    // a header claiming a huge size cannot make the merge read past the record either
    const big = openSync(cow, "r+");
    writeSync(big, encodeCowHeader({ backingFile: backing, size: 1 << 30, mtime: h.mtime }), 0, 4128, 0);
    closeSync(big);
    assert.throws(() => mergeCow(cow, { path: backing, size: h.size, mtime: h.mtime }, out), CowMismatchError);
  });
});
