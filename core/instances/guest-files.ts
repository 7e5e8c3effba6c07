import { closeSync, constants, fchmodSync, fchownSync, fstatSync, lstatSync, mkdirSync, openSync, rmdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { instanceFiles } from "../paths.js";

/**
 * What of an instance lives on the host, and who owns it. The guest reaches
 * all of it only through its jail; on the host the instance directory is
 * root's (0700), so no guest can put a symlink where root looks:
 *
 *   <instance>/            root 0700
 *     disk0.cow            the guest's uid, 0600 (the only host file it writes)
 *     sock/                root 0711: notify.sock, mconsole-client.sock (made the guest's by the worker)
 *     console.in/out       root 0600 FIFOs (UML gets them as descriptors)
 *     console.log, uml.stderr.log   root 0600
 */
export function prepareInstanceDir(dir: string, id: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (takeBack(dir, 0o700)) forgetLegacy(dir, id); // it was the guest's: an older umld's layout
  const f = instanceFiles(dir);
  try {
    mkdirSync(f.sockDir, { mode: 0o711 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  takeBack(f.sockDir, 0o711);
}

/** A directory made root's with `mode`, refusing a symlink in its place. True when it was someone else's. */
function takeBack(dir: string, mode: number): boolean {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    const st = fstatSync(fd);
    if (st.uid === 0 && st.gid === 0 && (st.mode & 0o7777) === mode) return false;
    fchownSync(fd, 0, 0);
    fchmodSync(fd, mode);
    return st.uid !== 0;
  } finally {
    closeSync(fd);
  }
}

/**
 * Before guests were jailed, the instance directory was the guest's: UML's
 * umid directory, sockets and an empty hostfs jail were in it. Removed by
 * name, never recursively (unlink and rmdir never follow a symlink).
 */
function forgetLegacy(dir: string, id: string): void {
  const quiet = (fn: () => void) => {
    try {
      fn();
    } catch {
      // absent, or not what we made: left alone
    }
  };
  for (const name of ["notify.sock", "mconsole-client.sock"]) quiet(() => unlinkSync(join(dir, name)));
  for (const name of ["pid", "mconsole"]) quiet(() => unlinkSync(join(dir, id, name)));
  quiet(() => rmdirSync(join(dir, id)));
  quiet(() => rmdirSync(join(dir, "hostfs")));
}

/** A file given to `owner` with `mode`, opened without following a symlink (and refused if it is not a regular file). */
export function grantFile(path: string, owner: { uid: number; gid: number }, mode: number): void {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    if (!fstatSync(fd).isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: "EINVAL" });
    fchownSync(fd, owner.uid, owner.gid);
    fchmodSync(fd, mode);
  } finally {
    closeSync(fd);
  }
}

/** A data disk: read-write for its one instance (its uid, 0600); read-only shares readable through the owner's group (0640). */
export function grantDisk(path: string, guest: { uid: number; gid: number }, ownerGid: number, readOnly: boolean): void {
  if (readOnly) grantFile(path, { uid: 0, gid: ownerGid }, 0o640);
  else grantFile(path, guest, 0o600);
}

/** Whether a path is a directory that is not a symlink (for checks before use). */
export function isRealDir(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}
