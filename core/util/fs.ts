import { readdirSync, statSync } from "node:fs";

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
