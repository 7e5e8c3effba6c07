import { closeSync, constants, fsyncSync, openSync, readdirSync, renameSync, statSync, writeSync } from "node:fs";
import { dirname } from "node:path";

/** Host bytes a file really uses (sparse files: only what is allocated); 0 when it is gone. */
export function allocatedBytes(path: string): number {
  try {
    return statSync(path).blocks * 512;
  } catch {
    return 0;
  }
}

/** A directory's entries, or none when it does not exist. */
export function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Error details as an object to spread, whatever they were. */
export function asObject(v: unknown): Record<string, unknown> {
  return v && typeof v === "object" ? (v as Record<string, unknown>) : {};
}

/** Opens a file without following a symlink in its last component (root never follows a link it did not make). */
export function openNoFollow(path: string, flags: number = constants.O_RDONLY, mode?: number): number {
  return openSync(path, flags | constants.O_NOFOLLOW, mode);
}

/** The file's data and metadata are on disk when this returns. */
export function fsyncFile(path: string): void {
  const fd = openNoFollow(path, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The directory's entries (a create, rename or unlink in it) are on disk when this returns. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Renames a file that is already fsynced into place, then makes the rename durable. */
export function renameDurable(from: string, to: string): void {
  renameSync(from, to);
  fsyncDir(dirname(to));
  if (dirname(from) !== dirname(to)) fsyncDir(dirname(from));
}

/** Writes a whole file so that after a crash it is either the old file or the complete new one. */
export function writeFileDurable(path: string, data: string | Buffer, mode = 0o600): void {
  const tmp = `${path}.partial`;
  const fd = openNoFollow(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, mode);
  try {
    const b = typeof data === "string" ? Buffer.from(data) : data;
    for (let off = 0; off < b.length; ) off += writeSync(fd, b, off, b.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameDurable(tmp, path);
}
