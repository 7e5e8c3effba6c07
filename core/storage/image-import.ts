import { execFile } from "node:child_process";
import { closeSync, createReadStream, createWriteStream, mkdtempSync, openSync, readdirSync, readSync, realpathSync, rmSync, statfsSync, statSync, type Stats } from "node:fs";
import { dirname, join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { UmldError } from "../errors.js";
import { renameDurable } from "../util/fs.js";
import { sealImage } from "./seal.js";

const run = promisify(execFile);

export type ImportSource = { type: "raw" | "dir" | "tar"; path: string };
export type ImportProgress = (p: { done: number; total: number | null; unit: "bytes" | "steps"; step: string | null }) => void;

/** What one import may take: content bytes, files (inodes), and time per step. */
export interface ImportLimits {
  maxBytes: number;
  maxInodes: number;
  stepTimeoutMs: number;
}

const MiB = 1024 * 1024;
/**
 * A tar is extracted into a tmpfs of at most this size (RAM, only what is
 * written): a decompression bomb fills that, never the disk holding every
 * guest's COW. A `sizeMiB` lowers it; bigger trees import as `dir` or `raw`.
 */
export const DEFAULT_IMPORT_LIMITS: ImportLimits = { maxBytes: 4096 * MiB, maxInodes: 1_000_000, stepTimeoutMs: 30 * 60_000 };

/** Host directories no import reads from: their content would become an image, shared with every tenant. */
const SENSITIVE_DIRS = ["/etc", "/root", "/proc", "/sys", "/dev"];

/** Why a source (real path) may not be imported, or null. Pure. */
export function sourceRefusal(real: string, stateDir: string): string | null {
  if (real === "/") return "the host's root directory";
  for (const d of [stateDir, ...SENSITIVE_DIRS]) {
    if (real === d || real.startsWith(`${d}/`)) return d === stateDir ? "umld's state directory" : d;
  }
  if (stateDir.startsWith(`${real}/`)) return "a directory holding umld's state directory";
  return null;
}

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

/** The extraction tmpfs has no room left (bytes or inodes): the archive is over the limit. */
function full(dir: string): boolean {
  const f = statfsSync(dir);
  return f.bavail * f.bsize < MiB || f.ffree === 0;
}

/** A child process that hit its step timeout (killed by execFile). */
const timedOut = (e: unknown) => (e as { killed?: boolean }).killed === true;

/**
 * Builds a sealed image file at `out` from a raw ext* file (copied), a
 * directory or a tar archive (made into ext4 with mkfs.ext4 -d, no loop
 * mount), within `limits`. Written to a temp file, sealed (read-only,
 * fsynced) and renamed into place durably.
 */
export async function importImage(
  source: ImportSource,
  out: string,
  label: string,
  sizeMiB: number | undefined,
  progress: ImportProgress,
  /** stateDir: umld's, refused as a source (null: umld imports a tree it made there itself) */
  opts: { stateDir: string | null; limits?: ImportLimits },
): Promise<{ sizeBytes: number }> {
  const limits = opts.limits ?? DEFAULT_IMPORT_LIMITS;
  const maxBytes = Math.min(limits.maxBytes, sizeMiB !== undefined ? sizeMiB * MiB : Infinity);
  const step = { timeout: limits.stepTimeoutMs, killSignal: "SIGKILL" as const, maxBuffer: 1 << 20 };
  let real: string;
  let st: Stats;
  try {
    real = realpathSync(source.path);
    st = statSync(real);
  } catch {
    invalid(`no such file or directory: ${source.path}`, source);
  }
  const refused = opts.stateDir === null ? null : sourceRefusal(real, realpathSync(opts.stateDir));
  if (refused) invalid(`${source.path} may not be imported: it is ${refused === "/" ? "/" : `in or holds ${refused}`}`, source);
  const tmp = `${out}.partial`;
  let extractDir: string | null = null;
  let mounted = false;
  try {
    if (source.type === "raw") {
      if (!st.isFile()) invalid(`not a regular file: ${source.path}`, source);
      if (!isExtImage(real)) invalid(`not an ext2/3/4 file system image: ${source.path}`, source);
      if (st.size > maxBytes) invalid(`the image is larger than the import limit (${Math.floor(maxBytes / MiB)} MiB)`, source);
      let done = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          done += chunk.length;
          progress({ done, total: st!.size, unit: "bytes", step: "copy" });
          cb(null, chunk);
        },
      });
      await pipeline(createReadStream(real, { highWaterMark: 1 << 20 }), counter, createWriteStream(tmp, { mode: 0o600, flags: "wx" }), { signal: AbortSignal.timeout(limits.stepTimeoutMs) });
    } else {
      let root = real;
      if (source.type === "tar") {
        if (!st.isFile()) invalid(`not a regular file: ${source.path}`, source);
        progress({ done: 0, total: 3, unit: "steps", step: "extract" });
        extractDir = mkdtempSync(join(dirname(out), ".extract-"));
        // bounded in bytes and inodes by the kernel, not by checks a bomb could outrun
        await run("mount", ["-t", "tmpfs", "-o", `size=${maxBytes},nr_inodes=${limits.maxInodes},mode=0700,nosuid,nodev,noexec`, "tmpfs", extractDir], step);
        mounted = true;
        root = extractDir;
        // owners and modes are not taken from the archive; GNU tar drops leading '/' and refuses members with '..'
        await run("tar", ["-x", "--no-same-owner", "--no-same-permissions", "--delay-directory-restore", "-f", real, "-C", root], step).catch((e: Error) => {
          if (timedOut(e)) invalid(`extracting ${source.path} took longer than ${limits.stepTimeoutMs / 1000} s`, source);
          if (full(extractDir!)) {
            invalid(`the archive holds more than the import limit (${Math.floor(maxBytes / MiB)} MiB or ${limits.maxInodes} files)`, source);
          }
          invalid(`cannot extract ${source.path}: ${e.message.split("\n").slice(-2).join(" ").trim()}`, source);
        });
      } else if (!st.isDirectory()) {
        invalid(`not a directory: ${source.path}`, source);
      }
      if (readdirSync(root).length === 0) invalid(`${source.type === "tar" ? "the archive" : "the directory"} is empty: ${source.path}`, source);
      const base = source.type === "tar" ? 1 : 0;
      const total = base + 2;
      progress({ done: base, total, unit: "steps", step: "size" });
      const du = async (args: string[]) => {
        try {
          return Number((await run("du", [...args, root], step)).stdout.split(/\s/)[0]) || 0;
        } catch (e) {
          invalid(timedOut(e) ? `measuring ${source.path} took longer than ${limits.stepTimeoutMs / 1000} s` : `cannot read ${source.path}: ${(e as Error).message.split("\n")[0]}`, source);
        }
      };
      const used = await du(["-s", "-B1", "--apparent-size"]);
      if (used > maxBytes) invalid(`${source.path} holds more than the import limit (${Math.floor(maxBytes / MiB)} MiB)`, source);
      if ((await du(["-s", "--inodes"])) > limits.maxInodes) invalid(`${source.path} holds more than the import limit of ${limits.maxInodes} files`, source);
      const size = sizeMiB ?? Math.ceil((used * 1.3) / MiB) + 32;
      if (size * MiB < used) invalid(`sizeMiB ${size} is smaller than the content (${Math.ceil(used / MiB)} MiB)`, source);
      progress({ done: base + 1, total, unit: "steps", step: "mkfs" });
      await run("mkfs.ext4", ["-q", "-F", "-L", label.slice(0, 16), "-E", "root_owner=0:0", "-d", root, tmp, `${size}M`], step).catch((e: Error) => {
        if (timedOut(e)) invalid(`making the file system took longer than ${limits.stepTimeoutMs / 1000} s`, source);
        throw e;
      });
      progress({ done: total, total, unit: "steps", step: "seal" });
    }
    sealImage(tmp, null, true); // imports are the admin's shared catalogue
    renameDurable(tmp, out);
    return { sizeBytes: statSync(out).size };
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  } finally {
    if (extractDir) {
      if (mounted) await run("umount", [extractDir]).catch(() => run("umount", ["-l", extractDir!]).catch(() => {}));
      rmSync(extractDir, { recursive: true, force: true });
    }
  }
}
