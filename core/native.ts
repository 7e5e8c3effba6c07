import { createRequire } from "node:module";

/** The project's own addon (native/uds_dgram.c): connected unix datagram sockets and mkfifo. */
export interface NativeDgramSocket {
  bind(path: string): void;
  connect(path: string): void;
  send(buf: Buffer): number;
  close(): void;
}
interface NativeModule {
  Socket: new (onMessage: (buf: Buffer) => void) => NativeDgramSocket;
  mkfifo(path: string, mode: number): void;
  /** open(2) outside Node's fs, for descriptors libuv will own and close (see uds_dgram.c). */
  openFd(path: string, flags: number): number;
  /** fcntl(F_SETPIPE_SZ): returns the size the kernel granted. */
  setPipeSize(fd: number, bytes: number): number;
  /** A pty pair: umld keeps the master; UML gets the slave as a tty: channel. */
  openpty(): { master: number; slave: string };
  /** SO_PEERCRED: the uid of the peer of a connected unix socket. */
  peerUid(fd: number): number;
  /** openat(2) of one path component, never following a symlink (O_NOFOLLOW|O_CLOEXEC added). */
  openAt(dirFd: number, name: string, flags: number): number;
  closeFd(fd: number): void;
  fstatKind(fd: number): { kind: "file" | "dir" | "socket" | "fifo" | "symlink" | "char" | "block" | "other"; uid: number; gid: number; mode: number; size: number };
  /** POSIX ACL (lsetxattr: never follows a symlink) */
  setAcl(path: string, which: "access" | "default", acl: { user: number; group: number; other: number; mask?: number; users?: Array<[number, number]>; groups?: Array<[number, number]> }): void;
  readonly O_PATH: number;
}

const require = createRequire(import.meta.url);
// dist/core/native.js -> <repo>/native/build/Release
export const native: NativeModule = require("../../native/build/Release/uds_dgram.node") as NativeModule;
