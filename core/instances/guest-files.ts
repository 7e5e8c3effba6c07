import { chmodSync, chownSync, existsSync, mkdirSync, rmSync } from "node:fs";
import type { GuestIdentity } from "../guest/identity.js";

/**
 * What an unprivileged guest process may touch, made so before each start:
 * its own instance directory and disks (owner, 0700/0600), its own uml_dir
 * and memory directory, and nothing else of umld's: the state directories
 * above are 0711 (traverse, no listing), images 0444, kernels 0555.
 */
export interface GuestFileSet {
  instanceDir: string;
  rootCow: string;
  /** an empty directory hostfs is confined to (UML's hostfs= option): root-owned, so the guest gets nothing */
  hostfsJail: string;
  /** uml_dir/<umid> (uml_dir is the instance directory): UML makes it for its pid file and mconsole socket */
  umidDir: string;
  /** TMPDIR: UML keeps the guest's RAM in an unlinked file here */
  memoryDir: string;
}

export function grantGuestFiles(f: GuestFileSet, id: GuestIdentity): void {
  chownSync(f.instanceDir, id.uid, id.gid);
  chmodSync(f.instanceDir, 0o700);
  if (existsSync(f.rootCow)) {
    chownSync(f.rootCow, id.uid, id.gid);
    chmodSync(f.rootCow, 0o600);
  }
  mkdirSync(f.hostfsJail, { recursive: true });
  chownSync(f.hostfsJail, 0, 0);
  chmodSync(f.hostfsJail, 0o500);
  rmSync(f.umidDir, { recursive: true, force: true }); // UML makes it again, as the guest user
  mkdirSync(f.memoryDir, { recursive: true, mode: 0o700 });
  chownSync(f.memoryDir, id.uid, id.gid);
  chmodSync(f.memoryDir, 0o700);
}

/** A data disk: read-write for its one instance (owner, 0600), read-only shares readable by the group. */
export function grantDisk(path: string, id: GuestIdentity, readOnly: boolean): void {
  if (readOnly) {
    chownSync(path, 0, id.gid);
    chmodSync(path, 0o640);
  } else {
    chownSync(path, id.uid, id.gid);
    chmodSync(path, 0o600);
  }
}

/** Directories guests only pass through. */
export function traverseOnly(dirs: string[]): void {
  for (const d of dirs) {
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o711);
  }
}
