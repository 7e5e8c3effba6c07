import { statSync } from "node:fs";
import { jailFilesFor, type JailFile } from "./elf-deps.js";

/**
 * A binary and what it needs to run in a jail (loader and libraries), read
 * from its ELF headers once per file version: a kernel boots hundreds of times.
 */
const cache = new Map<string, { key: string; files: JailFile[] }>();

export function binaryFiles(path: string): JailFile[] {
  const st = statSync(path);
  const key = `${st.ino}:${st.size}:${st.mtimeMs}`;
  const hit = cache.get(path);
  if (hit && hit.key === key) return hit.files;
  const files = [{ source: path, at: path }, ...jailFilesFor(path)];
  cache.set(path, { key, files });
  return files;
}
