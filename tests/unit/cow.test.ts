import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { after, describe, it } from "node:test";
import { checkCowAgainstBacking, cowLayout, createCow, decodeCowHeader, encodeCowHeader } from "../../core/uml/cow.js";

describe("UML COW v3 header", () => {
  const dir = mkdtempSync("/tmp/umld-cow-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("encodes the reference's fresh header byte for byte", () => {
    const h = encodeCowHeader({ backingFile: "/tmp/uml-demo/back.img", mtime: 1704164645, size: 20 * 1024 * 1024 });
    assert.equal(
      h.subarray(0, 32 + 23).toString("hex"),
      "4f4f4f4d" + "00000003" + "65937d25" + "0000000001400000" + "00000200" + "00001000" + "00000000" + Buffer.from("/tmp/uml-demo/back.img\0").toString("hex"),
    );
    assert.deepEqual(decodeCowHeader(h), { version: 3, mtime: 1704164645, size: 20971520, sectorSize: 512, alignment: 4096, backingFile: "/tmp/uml-demo/back.img" });
  });

  it("lays out bitmap and data like uml_mkcow (20 MiB → 20987904 bytes, 32 MiB → 33570816)", () => {
    assert.deepEqual(cowLayout(20 * 1024 * 1024), { bitmapOffset: 8192, bitmapLen: 5120, dataOffset: 16384, fileSize: 20987904 });
    assert.equal(cowLayout(32 * 1024 * 1024).fileSize, 33570816);
  });

  it("creates a sparse COW over a backing file and detects a changed backing (mtime or size)", () => {
    const backing = `${dir}/back.img`;
    writeFileSync(backing, Buffer.alloc(1024 * 1024));
    const cow = `${dir}/a.cow`;
    const h = createCow(cow, backing);
    assert.equal(statSync(cow).size, cowLayout(1024 * 1024).fileSize);
    assert.ok(statSync(cow).blocks * 512 < 64 * 1024, "sparse");
    assert.equal(h.size, 1024 * 1024);
    assert.equal(readFileSync(cow).subarray(0, 4).toString(), "OOOM");
    assert.deepEqual(checkCowAgainstBacking(cow).ok, true);
    assert.throws(() => createCow(cow, backing), /EEXIST/);
    utimesSync(backing, new Date(), new Date(Date.now() + 5000));
    const r = checkCowAgainstBacking(cow);
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /mtime/);
    writeFileSync(backing, Buffer.alloc(2 * 1024 * 1024));
    assert.match((checkCowAgainstBacking(cow) as { reason: string }).reason, /size|mtime/);
    assert.throws(() => createCow(`${dir}/b.cow`, "relative/path"), RangeError);
    assert.throws(() => createCow(`${dir}/c.cow`, dir), /not a regular file/);
  });

  it("rejects files that are not COW v3 and a zero alignment", () => {
    assert.equal(decodeCowHeader(Buffer.alloc(4128)), null);
    const h = encodeCowHeader({ backingFile: "/x", mtime: 1, size: 512 });
    h.writeUInt32BE(0, 24);
    assert.equal(decodeCowHeader(h), null);
  });
});
