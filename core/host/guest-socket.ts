import { chownSync, closeSync, constants, openSync } from "node:fs";
import { native } from "../native.js";

/**
 * A socket inside a guest's jail, reached from the host without following any
 * symlink: the guest owns the directories its UML makes (uml_dir/<umid>), and
 * a guest process that escaped UML could put a symlink there to another
 * guest's mconsole. Every component is opened O_PATH|O_NOFOLLOW from the
 * jail's root (/proc/<pid>/root); connect() then goes through the magic link
 * of the final descriptor, which names exactly the socket that was checked.
 * Keep the handle open while the path is in use; close() releases it.
 */
export interface JailSocket {
  /** "/proc/self/fd/N": what connect() takes */
  path: string;
  close(): void;
}

export function openJailSocket(pid: number, pathInJail: string): JailSocket {
  const parts = pathInJail.split("/").filter((p) => p !== "");
  if (!pathInJail.startsWith("/") || parts.length === 0 || parts.some((p) => p === "." || p === "..")) {
    throw Object.assign(new Error(`not an absolute path: ${pathInJail}`), { code: "EINVAL" });
  }
  const root = openSync(`/proc/${pid}/root`, constants.O_RDONLY | constants.O_DIRECTORY);
  let dir = -1;
  try {
    let at = root;
    for (let i = 0; i < parts.length; i++) {
      const last = i === parts.length - 1;
      const next = native.openAt(at, parts[i]!, native.O_PATH | (last ? 0 : constants.O_DIRECTORY));
      if (dir >= 0) native.closeFd(dir);
      dir = next;
      at = next;
    }
    const kind = native.fstatKind(dir).kind;
    if (kind !== "socket") throw Object.assign(new Error(`${pathInJail} in the jail of ${pid} is a ${kind}, not a socket`), { code: "ENOTSOCK" });
    const fd = dir;
    dir = -1;
    let closed = false;
    return {
      path: `/proc/self/fd/${fd}`,
      close: () => {
        if (closed) return;
        closed = true;
        native.closeFd(fd);
      },
    };
  } finally {
    if (dir >= 0) native.closeFd(dir);
    closeSync(root);
  }
}

/**
 * Gives a socket the daemon just bound to the guest that sends to it: the
 * file is opened O_PATH|O_NOFOLLOW and changed through its descriptor, so
 * nothing but that socket can be changed, whatever is at the path.
 */
export function chownSocket(path: string, uid: number, gid: number): void {
  const fd = native.openPath(path, native.O_PATH);
  try {
    const kind = native.fstatKind(fd).kind;
    if (kind !== "socket") throw Object.assign(new Error(`${path} is a ${kind}, not a socket`), { code: "ENOTSOCK" });
    chownSync(`/proc/self/fd/${fd}`, uid, gid);
  } finally {
    native.closeFd(fd);
  }
}
