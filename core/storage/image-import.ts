import { execFile } from "node:child_process";
import { chmodSync, closeSync, mkdtempSync, openSync, readdirSync, readSync, renameSync, rmSync, statSync } from "node:fs";
import { createReadStream, createWriteStream } from "node:fs";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { Transform } from "node:stream";
import { promisify } from "node:util";
import { UmldError } from "../errors.js";

const run = promisify(execFile);

export type ImportSource = { type: "raw" | "dir" | "tar"; path: string };
export type ImportProgress = (p: { done: number; total: number | null; unit: "bytes" | "steps"; step: string | null }) => void;

/** ext2/3/4 superblock magic 0xEF53 at byte 1080. */
export function isExtImage(path: string): boolean {
  const fd = openSync(path, "r");
  try {
    const b = Buffer.alloc(2);
    return readSync(fd, b, 0, 2, 1080) === 2 && b.readUInt16LE(0) === 0xef53;
  } finally {
    closeSync(fd);
  }
}

function invalid(message: string, source: ImportSource): never {
  throw new UmldError("invalid_image", message, { source });
}

/**
 * Builds a sealed image file at `out` from a raw ext* file (copied), a
 * directory or a tar archive (made into ext4 with mkfs.ext4 -d, no loop
 * mount). Written to a temp file and renamed into place; read-only (0444).
 */
export async function importImage(source: ImportSource, out: string, label: string, sizeMiB: number | undefined, progress: ImportProgress): Promise<{ sizeBytes: number }> {
  let st;
  try {
    st = statSync(source.path);
  } catch {
    invalid(`no such file or directory: ${source.path}`, source);
  }
  const tmp = `${out}.partial`;
  const work: string[] = [];
  try {
    if (source.type === "raw") {
      if (!st.isFile()) invalid(`not a regular file: ${source.path}`, source);
      if (!isExtImage(source.path)) invalid(`not an ext2/3/4 file system image: ${source.path}`, source);
      let done = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          done += chunk.length;
          progress({ done, total: st!.size, unit: "bytes", step: "copy" });
          cb(null, chunk);
        },
      });
      await pipeline(createReadStream(source.path, { highWaterMark: 1 << 20 }), counter, createWriteStream(tmp, { mode: 0o600 }));
    } else {
      let root = source.path;
      if (source.type === "tar") {
        if (!st.isFile()) invalid(`not a regular file: ${source.path}`, source);
        progress({ done: 0, total: 3, unit: "steps", step: "extract" });
        root = mkdtempSync(join(dirname(out), ".extract-"));
        work.push(root);
        // GNU tar drops leading '/' and refuses members with '..'; owners kept as numbers
        await run("tar", ["-x", "--numeric-owner", "--no-same-permissions", "--delay-directory-restore", "-f", source.path, "-C", root], { maxBuffer: 1 << 20 }).catch((e: Error) =>
          invalid(`cannot extract ${source.path}: ${e.message.split("\n").slice(-2).join(" ").trim()}`, source),
        );
      } else if (!st.isDirectory()) {
        invalid(`not a directory: ${source.path}`, source);
      }
      if (readdirSync(root).length === 0) invalid(`${source.type === "tar" ? "the archive" : "the directory"} is empty: ${source.path}`, source);
      const base = source.type === "tar" ? 1 : 0;
      const total = base + 2;
      progress({ done: base, total, unit: "steps", step: "size" });
      const { stdout } = await run("du", ["-s", "-B1", "--apparent-size", root]);
      const used = Number(stdout.split(/\s/)[0]) || 0;
      const size = sizeMiB ?? Math.ceil((used * 1.3) / 1048576) + 32;
      if (size * 1048576 < used) invalid(`sizeMiB ${size} is smaller than the content (${Math.ceil(used / 1048576)} MiB)`, source);
      progress({ done: base + 1, total, unit: "steps", step: "mkfs" });
      await run("mkfs.ext4", ["-q", "-F", "-L", label.slice(0, 16), "-E", "root_owner=0:0", "-d", root, tmp, `${size}M`]);
      progress({ done: total, total, unit: "steps", step: "seal" });
    }
    chmodSync(tmp, 0o444);
    renameSync(tmp, out);
    return { sizeBytes: statSync(out).size };
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  } finally {
    for (const w of work) rmSync(w, { recursive: true, force: true });
  }
}
