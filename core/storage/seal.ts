import { closeSync, constants, fchmodSync, fstatSync, fsyncSync } from "node:fs";
import { openNoFollow } from "../util/fs.js";

/** Mode of a sealed image: read-only for everyone who may reach it. */
export const IMAGE_MODE = 0o444;
/** Mode of a stored kernel: guests exec it. */
export const KERNEL_MODE = 0o555;

/**
 * The one place an image file becomes sealed (never written again): its mode
 * (and, with per-guest jails, its group), and its bytes on disk before anyone
 * registers or renames it. `owner` is the tenant it belongs to (null: the
 * admin's catalogue).
 */
export function sealImage(path: string, owner: string | null): void {
  void owner; // today every image is 0444 root:root; the jail gives owners their group here
  seal(path, IMAGE_MODE);
}

/** The one place a stored kernel binary becomes sealed. */
export function sealKernel(path: string): void {
  seal(path, KERNEL_MODE);
}

function seal(path: string, mode: number): void {
  const fd = openNoFollow(path, constants.O_RDONLY);
  try {
    if (!fstatSync(fd).isFile()) throw new Error(`not a regular file: ${path}`);
    fchmodSync(fd, mode);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
