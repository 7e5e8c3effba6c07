import { closeSync, constants, fchmodSync, fchownSync, fstatSync, fsyncSync } from "node:fs";
import { openNoFollow } from "../util/fs.js";

/**
 * Who may read an image: guests read their images through their jails, as
 * their own uid, so an image is root's and readable by a group: the shared
 * catalogue's (every guest), a tenant's (its guests), or the admins' (their
 * guests). Never by others. Set once at daemon start (core/jail/host-ids.ts).
 */
export interface ImageGroups {
  shared: number;
  admin: number;
  tenant(name: string): number;
}

let groups: ImageGroups | null = null;

export function setImageGroups(g: ImageGroups): void {
  groups = g;
}

/** Mode of a sealed image: read-only for its owner's guests (group), nobody else. */
export const IMAGE_MODE = 0o640;
/** Mode of a stored kernel: every guest execs it (through the shared group). */
export const KERNEL_MODE = 0o750;

/** The group an image is read through. */
export function imageGid(owner: string | null, shared: boolean): number {
  if (!groups) return 0; // no guest reads it (tools and tests outside the daemon)
  return shared ? groups.shared : owner === null ? groups.admin : groups.tenant(owner);
}

/**
 * The one place an image file becomes sealed (never written again): root's,
 * read-only for its owner's group, and its bytes on disk before anyone
 * registers or renames it. `owner` is the tenant it belongs to (null: an
 * admin's); `shared`: the admin's shared catalogue, every guest's to read.
 */
export function sealImage(path: string, owner: string | null, shared: boolean): void {
  seal(path, imageGid(owner, shared), IMAGE_MODE);
}

/** The one place a stored kernel binary becomes sealed: every guest may exec it. */
export function sealKernel(path: string): void {
  seal(path, groups?.shared ?? 0, KERNEL_MODE);
}

function seal(path: string, gid: number, mode: number): void {
  const fd = openNoFollow(path, constants.O_RDONLY);
  try {
    if (!fstatSync(fd).isFile()) throw new Error(`not a regular file: ${path}`);
    fchownSync(fd, 0, gid);
    fchmodSync(fd, mode);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
