import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync, constants } from "node:fs";
import { Worker } from "node:worker_threads";
import { checkCowAgainstBacking, cowLayout } from "./cow.js";

const SECTOR = 512;
/** Sectors handled per step: 2 MiB. */
const CHUNK_SECTORS = 4096;

/**
 * Flattens a UML COW v3 file and its backing into a standalone raw image
 * (what uml_moo does): for every sector, the COW's copy when its bitmap bit is
 * set, else the backing's. Zero blocks are skipped, so the output is sparse.
 * Refuses a COW whose backing changed (size or mtime), like UML itself.
 */
export function mergeCow(cowPath: string, outPath: string, progress?: (done: number, total: number) => void): { sizeBytes: number; cowSectors: number } {
  const check = checkCowAgainstBacking(cowPath);
  if (!check.ok) throw new Error(check.reason);
  const h = check.header;
  const layout = cowLayout(h.size, h.sectorSize, h.alignment);
  const cow = openSync(cowPath, "r");
  const back = openSync(h.backingFile, "r");
  const out = openSync(outPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  let cowSectors = 0;
  try {
    const bitmap = Buffer.alloc(layout.bitmapLen);
    readSync(cow, bitmap, 0, bitmap.length, layout.bitmapOffset);
    const sectors = Math.ceil(h.size / SECTOR);
    const buf = Buffer.alloc(CHUNK_SECTORS * SECTOR);
    const zero = Buffer.alloc(4096);
    for (let first = 0; first < sectors; first += CHUNK_SECTORS) {
      const n = Math.min(CHUNK_SECTORS, sectors - first);
      const bytes = Math.min(n * SECTOR, h.size - first * SECTOR);
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
      progress?.(Math.min(h.size, (first + n) * SECTOR), h.size);
    }
    ftruncateSync(out, h.size);
    return { sizeBytes: fstatSync(out).size, cowSectors };
  } finally {
    closeSync(cow);
    closeSync(back);
    closeSync(out);
  }
}

/** mergeCow in a worker thread: a big disk never blocks the daemon's main thread. */
export function mergeCowOffThread(cowPath: string, outPath: string, progress?: (done: number, total: number) => void): Promise<{ sizeBytes: number; cowSectors: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL("./cow-merge-worker.js", import.meta.url), { workerData: { cow: cowPath, out: outPath } });
    let settled = false;
    w.on("message", (m: { t: string; done?: number; total?: number; message?: string; sizeBytes?: number; cowSectors?: number }) => {
      if (m.t === "progress") progress?.(m.done!, m.total!);
      else if (m.t === "done") {
        settled = true;
        resolve({ sizeBytes: m.sizeBytes!, cowSectors: m.cowSectors! });
      } else if (m.t === "error") {
        settled = true;
        reject(new Error(m.message));
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
