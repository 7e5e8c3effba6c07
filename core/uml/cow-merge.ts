import { closeSync, constants, fstatSync, fsyncSync, ftruncateSync, readSync, writeSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { openNoFollow } from "../util/fs.js";
import { COW_SECTOR_SIZE, CowMismatchError, cowLayout, headerMismatch, readCowHeaderFd, type BackingRecord } from "./cow.js";

const SECTOR = COW_SECTOR_SIZE;
/** Sectors handled per step: 2 MiB. */
const CHUNK_SECTORS = 4096;

/** Opens a regular file read-only without following a symlink; a mismatch error otherwise. */
function openRegular(path: string, what: string): number {
  let fd: number;
  try {
    fd = openNoFollow(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    throw new CowMismatchError(`${what} ${path} is missing or not a regular file`);
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new CowMismatchError(`${what} ${path} is missing or not a regular file`);
  }
  return fd;
}

/**
 * Flattens a UML COW v3 file and its backing into a standalone raw image
 * (what uml_moo does): for every sector, the COW's copy when its bitmap bit is
 * set, else the backing's. Zero blocks are skipped, so the output is sparse.
 * The backing is the one umld recorded (path, size, mtime), opened without
 * following links; the COW's header must say the same, and the layout comes
 * from umld's constants, never from the header. The output is fsynced.
 */
export function mergeCow(cowPath: string, backing: BackingRecord, outPath: string, progress?: (done: number, total: number) => void): { sizeBytes: number; cowSectors: number } {
  const cow = openRegular(cowPath, "COW");
  let back = -1;
  let out = -1;
  let cowSectors = 0;
  try {
    const mismatch = headerMismatch(readCowHeaderFd(cow), backing, cowPath);
    if (mismatch) throw new CowMismatchError(mismatch);
    back = openRegular(backing.path, "backing file");
    const st = fstatSync(back);
    if (st.size !== backing.size || Math.floor(st.mtimeMs / 1000) !== backing.mtime) {
      throw new CowMismatchError(`backing file ${backing.path} changed since the COW was made (size or mtime differs from the record)`);
    }
    const size = backing.size;
    const layout = cowLayout(size);
    out = openNoFollow(outPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    const bitmap = Buffer.alloc(layout.bitmapLen);
    readSync(cow, bitmap, 0, bitmap.length, layout.bitmapOffset);
    const sectors = Math.ceil(size / SECTOR);
    const buf = Buffer.alloc(CHUNK_SECTORS * SECTOR);
    const zero = Buffer.alloc(4096);
    for (let first = 0; first < sectors; first += CHUNK_SECTORS) {
      const n = Math.min(CHUNK_SECTORS, sectors - first);
      const bytes = Math.min(n * SECTOR, size - first * SECTOR);
      buf.fill(0, 0, n * SECTOR);
      readSync(back, buf, 0, bytes, first * SECTOR);
      for (let i = 0; i < n; i++) {
        const s = first + i;
        if (bitmap[s >> 3]! & (1 << (s & 7))) {
          readSync(cow, buf, i * SECTOR, SECTOR, layout.dataOffset + s * SECTOR);
          cowSectors++;
        }
      }
      for (let off = 0; off < bytes; off += 4096) {
        const len = Math.min(4096, bytes - off);
        const block = buf.subarray(off, off + len);
        if (!block.equals(zero.subarray(0, len))) writeSync(out, block, 0, len, first * SECTOR + off);
      }
      progress?.(Math.min(size, (first + n) * SECTOR), size);
    }
    ftruncateSync(out, size);
    fsyncSync(out);
    return { sizeBytes: fstatSync(out).size, cowSectors };
  } finally {
    closeSync(cow);
    if (back >= 0) closeSync(back);
    if (out >= 0) closeSync(out);
  }
}

/** mergeCow in a worker thread: a big disk never blocks the daemon's main thread. */
export function mergeCowOffThread(cowPath: string, backing: BackingRecord, outPath: string, progress?: (done: number, total: number) => void): Promise<{ sizeBytes: number; cowSectors: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL("./cow-merge-worker.js", import.meta.url), { workerData: { cow: cowPath, backing, out: outPath } });
    let settled = false;
    w.on("message", (m: { t: string; done?: number; total?: number; message?: string; mismatch?: boolean; sizeBytes?: number; cowSectors?: number }) => {
      if (m.t === "progress") progress?.(m.done!, m.total!);
      else if (m.t === "done") {
        settled = true;
        resolve({ sizeBytes: m.sizeBytes!, cowSectors: m.cowSectors! });
      } else if (m.t === "error") {
        settled = true;
        reject(m.mismatch ? new CowMismatchError(m.message) : new Error(m.message));
      }
    });
    w.on("error", (e) => {
      if (!settled) reject(e);
    });
    w.on("exit", (code) => {
      if (!settled) reject(new Error(`merge worker exited with ${code}`));
    });
  });
}
