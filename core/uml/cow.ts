import { closeSync, ftruncateSync, openSync, readSync, statSync, writeSync, constants } from "node:fs";
import { isAbsolute } from "node:path";

/** UML COW v3 header (big-endian): "OOOM", version 3, mtime, size, sectorsize, alignment, cow_format, backing_file[4096]. */
export const COW_MAGIC = 0x4f4f4f4d;
export const COW_HEADER_V3_SIZE = 4128;
const SECTOR = 512;
const ALIGN = 4096;

export interface CowHeader {
  version: number;
  backingFile: string;
  mtime: number;
  size: number;
  sectorSize: number;
  alignment: number;
}

const roundUp = (n: number, a: number) => Math.ceil(n / a) * a;

export function cowLayout(size: number, sectorSize = SECTOR, alignment = ALIGN) {
  const bitmapOffset = roundUp(COW_HEADER_V3_SIZE, alignment);
  const bitmapLen = Math.ceil(Math.ceil(size / sectorSize) / 8);
  const dataOffset = roundUp(bitmapOffset + bitmapLen, alignment);
  return { bitmapOffset, bitmapLen, dataOffset, fileSize: dataOffset + size };
}

export function encodeCowHeader(h: { backingFile: string; mtime: number; size: number }): Buffer {
  const path = Buffer.from(h.backingFile, "utf8");
  if (path.length > 4095) throw new RangeError("backing file path longer than 4095 bytes");
  const b = Buffer.alloc(COW_HEADER_V3_SIZE);
  b.writeUInt32BE(COW_MAGIC, 0);
  b.writeUInt32BE(3, 4);
  b.writeUInt32BE(h.mtime >>> 0, 8);
  b.writeBigUInt64BE(BigInt(h.size), 12);
  b.writeUInt32BE(SECTOR, 20);
  b.writeUInt32BE(ALIGN, 24);
  b.writeUInt32BE(0, 28);
  path.copy(b, 32);
  return b;
}

export function decodeCowHeader(b: Buffer): CowHeader | null {
  if (b.length < 32 || b.readUInt32BE(0) !== COW_MAGIC) return null;
  const version = b.readUInt32BE(4);
  if (version !== 3 || b.length < COW_HEADER_V3_SIZE) return null;
  const nul = b.indexOf(0, 32);
  const end = nul === -1 || nul > 32 + 4096 ? 32 + 4096 : nul;
  const alignment = b.readUInt32BE(24);
  if (alignment === 0) return null;
  return {
    version,
    mtime: b.readUInt32BE(8),
    size: Number(b.readBigUInt64BE(12)),
    sectorSize: b.readUInt32BE(20),
    alignment,
    backingFile: b.toString("utf8", 32, end),
  };
}

/** Creates a new, empty COW file over `backingFile` (absolute path), sparse, mode 0600. Fails if it exists. */
export function createCow(cowPath: string, backingFile: string): CowHeader {
  if (!isAbsolute(backingFile)) throw new RangeError("backing file must be an absolute path");
  const st = statSync(backingFile);
  if (!st.isFile()) throw new RangeError(`backing file is not a regular file: ${backingFile}`);
  const header = { backingFile, mtime: Math.floor(st.mtimeMs / 1000), size: st.size };
  const fd = openSync(cowPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    writeSync(fd, encodeCowHeader(header), 0, COW_HEADER_V3_SIZE, 0);
    ftruncateSync(fd, cowLayout(st.size).fileSize);
  } finally {
    closeSync(fd);
  }
  return { version: 3, sectorSize: SECTOR, alignment: ALIGN, ...header };
}

export function readCowHeader(cowPath: string): CowHeader | null {
  const fd = openSync(cowPath, "r");
  try {
    const b = Buffer.alloc(COW_HEADER_V3_SIZE);
    const n = readSync(fd, b, 0, b.length, 0);
    return decodeCowHeader(b.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

/** What UML checks at open: the backing's current size and whole-second mtime equal the header's. */
export function checkCowAgainstBacking(cowPath: string): { ok: true; header: CowHeader } | { ok: false; reason: string; header: CowHeader | null } {
  const header = readCowHeader(cowPath);
  if (!header) return { ok: false, reason: `not a UML COW v3 file: ${cowPath}`, header: null };
  let st;
  try {
    st = statSync(header.backingFile);
  } catch {
    return { ok: false, reason: `backing file missing: ${header.backingFile}`, header };
  }
  if (st.size !== header.size) {
    return { ok: false, reason: `backing file ${header.backingFile} size ${st.size} != ${header.size} in ${cowPath}`, header };
  }
  const mtime = Math.floor(st.mtimeMs / 1000);
  if (mtime !== header.mtime) {
    return { ok: false, reason: `backing file ${header.backingFile} mtime ${mtime} != ${header.mtime} in ${cowPath}`, header };
  }
  return { ok: true, header };
}
