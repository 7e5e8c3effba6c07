import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { after, describe, it } from "node:test";
import { execFileSync } from "node:child_process";
import { backingMismatch, checkCow, cowLayout, createCow, decodeCowHeader, encodeCowHeader, headerMismatch, readCowHeader } from "../../core/uml/cow.js";

/** Overwrites a COW's header as a guest with raw access to its own disk could. */
function forgeHeader(cow: string, h: { backingFile: string; mtime: number; size: number }): void {
  const fd = openSync(cow, "r+");
  try {
    writeSync(fd, encodeCowHeader(h), 0, 4128, 0);
  } finally {
    closeSync(fd);
  }
}

describe("UML COW v3 header", () => {
  const dir = mkdtempSync("/tmp/umld-cow-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("encodes the reference's fresh header byte for byte", () => {
    const h = encodeCowHeader({ backingFile: "/tmp/uml-demo/back.img", mtime: 1704164645, size: 20 * 1024 * 1024 });
    assert.equal(h.subarray(0, 32 + 23).toString("hex"), `4f4f4f4d0000000365937d250000000001400000000002000000100000000000${Buffer.from("/tmp/uml-demo/back.img\0").toString("hex")}`);
    assert.deepEqual(decodeCowHeader(h), { version: 3, mtime: 1704164645, size: 20971520, sectorSize: 512, alignment: 4096, backingFile: "/tmp/uml-demo/back.img" });
  });

  it("lays out bitmap and data like uml_mkcow (20 MiB → 20987904 bytes, 32 MiB → 33570816)", () => {
    assert.deepEqual(cowLayout(20 * 1024 * 1024), { bitmapOffset: 8192, bitmapLen: 5120, dataOffset: 16384, fileSize: 20987904 });
    assert.equal(cowLayout(32 * 1024 * 1024).fileSize, 33570816);
  });

  it("creates a sparse COW over a backing file and detects a changed backing (mtime or size) against the record", () => {
    const backing = `${dir}/back.img`;
    writeFileSync(backing, Buffer.alloc(1024 * 1024));
    const cow = `${dir}/a.cow`;
    const h = createCow(cow, backing);
    assert.equal(statSync(cow).size, cowLayout(1024 * 1024).fileSize);
    assert.ok(statSync(cow).blocks * 512 < 64 * 1024, "sparse");
    assert.equal(h.size, 1024 * 1024);
    assert.equal(readFileSync(cow).subarray(0, 4).toString(), "OOOM");
    const record = { path: backing, size: h.size, mtime: h.mtime };
    assert.deepEqual(checkCow(cow, record), { ok: true });
    assert.throws(() => createCow(cow, backing), /EEXIST/);
    utimesSync(backing, new Date(), new Date(Date.now() + 5000));
    const r = checkCow(cow, record);
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /changed since the COW was made/);
    writeFileSync(backing, Buffer.alloc(2 * 1024 * 1024));
    assert.match((checkCow(cow, record) as { reason: string }).reason, /size or mtime/);
    assert.throws(() => createCow(`${dir}/b.cow`, "relative/path"), RangeError);
    assert.throws(() => createCow(`${dir}/c.cow`, dir), /not a regular file/);
  });

  it("a header rewritten to name another file is refused without looking at that file; no reason carries a size or mtime", () => {
    const backing = `${dir}/base.img`;
    writeFileSync(backing, Buffer.alloc(256 * 1024, 1));
    const cow = `${dir}/forged.cow`;
    const h = createCow(cow, backing);
    const record = { path: backing, size: h.size, mtime: h.mtime };
    const secret = `${dir}/secret`;
    writeFileSync(secret, "x".repeat(777));
    utimesSync(secret, new Date(1_234_567_890_000), new Date(1_234_567_890_000));
    // a perfect forgery: the target's real size and mtime, as a guest would learn them
    forgeHeader(cow, { backingFile: secret, size: 777, mtime: 1_234_567_890 });
    const existing = checkCow(cow, record);
    forgeHeader(cow, { backingFile: `${dir}/no-such-file`, size: 777, mtime: 1_234_567_890 });
    const missing = checkCow(cow, record);
    assert.equal(existing.ok, false);
    assert.deepEqual(existing, missing, "the answer is the same whether the named file exists or not: nothing of it leaks");
    const reason = (existing as { reason: string }).reason;
    assert.match(reason, /header .* does not match the backing umld recorded/);
    for (const n of ["777", "1234567890", String(h.size), String(h.mtime)]) assert.ok(!reason.includes(n), `${n} in ${reason}`);
    // a FIFO is never opened (that would block): the header's path is not looked at at all
    execFileSync("mkfifo", [`${dir}/fifo`]);
    forgeHeader(cow, { backingFile: `${dir}/fifo`, size: h.size, mtime: h.mtime });
    assert.equal(checkCow(cow, record).ok, false);
    // sector size and alignment other than umld's constants: not one of umld's COWs
    const odd = encodeCowHeader({ backingFile: backing, size: h.size, mtime: h.mtime });
    odd.writeUInt32BE(4096, 20);
    assert.match(headerMismatch(decodeCowHeader(odd), record) ?? "", /does not match/);
    assert.equal(headerMismatch(decodeCowHeader(encodeCowHeader({ backingFile: backing, size: h.size, mtime: h.mtime })), record), null);
  });

  it("never follows a symlink: a COW or a recorded backing replaced by a link is refused", () => {
    const backing = `${dir}/real.img`;
    writeFileSync(backing, Buffer.alloc(64 * 1024));
    const cow = `${dir}/real.cow`;
    const h = createCow(cow, backing);
    symlinkSync(cow, `${dir}/link.cow`);
    assert.throws(() => readCowHeader(`${dir}/link.cow`), /ELOOP/);
    assert.equal(checkCow(`${dir}/link.cow`, { path: backing, size: h.size, mtime: h.mtime }).ok, false);
    symlinkSync(backing, `${dir}/link.img`);
    assert.match(backingMismatch({ path: `${dir}/link.img`, size: h.size, mtime: h.mtime }) ?? "", /missing or not a regular file/);
    assert.throws(() => createCow(`${dir}/over-link.cow`, `${dir}/link.img`), /not a regular file/);
    symlinkSync(`${dir}/elsewhere.cow`, `${dir}/planted.cow`);
    assert.throws(() => createCow(`${dir}/planted.cow`, backing), /EEXIST/, "a planted link is not written through");
  });

  it("rejects files that are not COW v3 and a zero alignment", () => {
    assert.equal(decodeCowHeader(Buffer.alloc(4128)), null);
    const h = encodeCowHeader({ backingFile: "/x", mtime: 1, size: 512 });
    h.writeUInt32BE(0, 24);
    assert.equal(decodeCowHeader(h), null);
  });
});
