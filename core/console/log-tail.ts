import { closeSync, fstatSync, openSync, readSync } from "node:fs";

const CHUNK = 64 * 1024;

/**
 * The last `lines` lines of a log kept as `current` plus its rotated
 * predecessors (newest first), read backwards in chunks: a 16 MiB console log
 * costs what the answer costs, not the file. At most `maxBytes` are returned.
 */
export function tailLines(files: string[], lines: number, maxBytes = 4 * 1024 * 1024): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  let newlines = 0;
  for (const file of files) {
    let fd: number;
    try {
      fd = openSync(file, "r");
    } catch {
      continue; // never written, or not rotated yet
    }
    try {
      let pos = fstatSync(fd).size;
      while (pos > 0 && size < maxBytes) {
        const len = Math.min(CHUNK, pos, maxBytes - size);
        pos -= len;
        const buf = Buffer.alloc(len);
        readSync(fd, buf, 0, len, pos);
        // a final newline ends the last line; it does not start another
        const skipLast = parts.length === 0 && size === 0 && buf[len - 1] === 0x0a;
        for (let i = len - 1 - (skipLast ? 1 : 0); i >= 0; i--) {
          if (buf[i] === 0x0a && ++newlines === lines) {
            parts.unshift(buf.subarray(i + 1));
            return Buffer.concat(parts);
          }
        }
        parts.unshift(buf);
        size += len;
      }
    } finally {
      closeSync(fd);
    }
    if (size >= maxBytes) break;
  }
  return Buffer.concat(parts);
}
