import { closeSync, constants, fstatSync, fsyncSync, ftruncateSync, readSync, writeSync } from "node:fs";
import { dirname, isAbsolute } from "node:path";
import { fsyncDir, openNoFollow } from "../util/fs.js";

/** UML COW v3 header (big-endian): "OOOM", version 3, mtime, size, sectorsize, alignment, cow_format, backing_file[4096]. */
export const COW_MAGIC = 0x4f4f4f4d;
export const COW_HEADER_V3_SIZE = 4128;
/** umld writes every COW with these; a header claiming others is not one of umld's. */
export const COW_SECTOR_SIZE = 512;
export const COW_ALIGNMENT = 4096;

export interface CowHeader {
  version: number;
  backingFile: string;
  mtime: number;
  size: number;
  sectorSize: number;
  alignment: number;
}

/**
 * What SQLite recorded of a COW's backing when umld made the COW (path, size,
 * whole-second mtime): the only description of a backing root acts on. The
 * header inside the COW is written by the guest's kernel and is never trusted.
 */
export interface BackingRecord {
  path: string;
  size: number;
  mtime: number;
}

/** Thrown when a COW or its backing is not what the record says. */
export class CowMismatchError extends Error {
  override readonly name = "CowMismatchError";
}

const roundUp = (n: number, a: number) => Math.ceil(n / a) * a;

export function cowLayout(size: number, sectorSize = COW_SECTOR_SIZE, alignment = COW_ALIGNMENT) {
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
  b.writeUInt32BE(COW_SECTOR_SIZE, 20);
  b.writeUInt32BE(COW_ALIGNMENT, 24);
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

/** Size and whole-second mtime of a regular file, opened without following a symlink; null when it is not one. */
function statRegular(path: string): { size: number; mtime: number } | null {
  let fd: number;
  try {
    fd = openNoFollow(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    return st.isFile() ? { size: st.size, mtime: Math.floor(st.mtimeMs / 1000) } : null;
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates a new, empty COW file over `backingFile` (an absolute path umld
 * made), sparse, mode 0600, on disk (file and directory entry) when it
 * returns. Fails if the COW exists. The header it returns is the record to keep.
 */
export function createCow(cowPath: string, backingFile: string): CowHeader {
  if (!isAbsolute(backingFile)) throw new RangeError("backing file must be an absolute path");
  const st = statRegular(backingFile);
  if (!st) throw new RangeError(`backing file is not a regular file: ${backingFile}`);
  const header = { backingFile, mtime: st.mtime, size: st.size };
  const fd = openNoFollow(cowPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    writeSync(fd, encodeCowHeader(header), 0, COW_HEADER_V3_SIZE, 0);
    ftruncateSync(fd, cowLayout(st.size).fileSize);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  fsyncDir(dirname(cowPath));
  return { version: 3, sectorSize: COW_SECTOR_SIZE, alignment: COW_ALIGNMENT, ...header };
}

/** The header of an open COW (null: not a UML COW v3 file). */
export function readCowHeaderFd(fd: number): CowHeader | null {
  const b = Buffer.alloc(COW_HEADER_V3_SIZE);
  const n = readSync(fd, b, 0, b.length, 0);
  return decodeCowHeader(b.subarray(0, n));
}

/** A COW's header, read without following a symlink (null: not a regular UML COW v3 file). */
export function readCowHeader(cowPath: string): CowHeader | null {
  const fd = openNoFollow(cowPath, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    if (!fstatSync(fd).isFile()) return null;
    return readCowHeaderFd(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Does a header say what the record says? Pure. The reason never quotes the
 * header (guest-written) nor any file's size or mtime: it is shown to tenants.
 */
export function headerMismatch(h: CowHeader | null, r: BackingRecord, cow = "the COW"): string | null {
  if (!h) return `${cow} is not a UML COW v3 file`;
  if (h.backingFile !== r.path || h.size !== r.size || h.mtime !== r.mtime || h.sectorSize !== COW_SECTOR_SIZE || h.alignment !== COW_ALIGNMENT) {
    return `the header of ${cow} does not match the backing umld recorded for it`;
  }
  return null;
}

/**
 * Is the recorded backing (a root-owned file umld made) still what it was when
 * the COW was made? Only the recorded path is looked at, never one from a
 * header; the reason names that path and no size or mtime.
 */
export function backingMismatch(r: BackingRecord): string | null {
  const st = statRegular(r.path);
  if (!st) return `backing file ${r.path} is missing or not a regular file`;
  if (st.size !== r.size || st.mtime !== r.mtime) return `backing file ${r.path} changed since the COW was made (size or mtime differs from the record)`;
  return null;
}

/**
 * What UML checks at open, against umld's record instead of the header: the
 * header names the recorded backing with its recorded size and mtime, and that
 * file still has them.
 */
export function checkCow(cowPath: string, record: BackingRecord): { ok: true } | { ok: false; reason: string } {
  let header: CowHeader | null;
  try {
    header = readCowHeader(cowPath);
  } catch {
    return { ok: false, reason: `${cowPath} is missing or not a regular file` };
  }
  const reason = headerMismatch(header, record, cowPath) ?? backingMismatch(record);
  return reason ? { ok: false, reason } : { ok: true };
}

/**
 * The record of a backing whose size or mtime was not recorded (data disks
 * made before umld kept them): the recorded path as it is now. Only that
 * root-owned file is looked at; null when it is gone.
 */
export function recordNow(path: string): BackingRecord | null {
  const st = statRegular(path);
  return st ? { path, ...st } : null;
}
