import { createRequire } from "node:module";

/**
 * The project's own addon (native/*.c). Every error it throws is an Error with `.code`
 * ("ENOENT", "ELOOP", "EINVAL"...), `.errno` (negative, as Node's) and `.syscall`.
 */
export interface NativeDgramSocket {
  /** Starts receiving. */
  bind(path: string): void;
  connect(path: string): void;
  send(buf: Buffer): number;
  /** Idempotent; drops the reference to onMessage so the socket can be collected. */
  close(): void;
}

/**
 * Called for every datagram. `truncated`: it was longer than 64 KiB and `buf` holds its first 64 KiB.
 * A throw becomes an uncaught exception of the thread (it is not swallowed).
 */
export type OnDatagram = (buf: Buffer, truncated: boolean) => void;

interface NativeModule {
  Socket: new (onMessage: OnDatagram) => NativeDgramSocket;
  mkfifo(path: string, mode: number): void;
  /**
   * open(2) outside Node's fs, for descriptors libuv will own and close (see native/fd_ops.c).
   * Always O_NOFOLLOW|O_CLOEXEC: a symlink as the LAST component is refused (ELOOP).
   */
  openFd(path: string, flags: number, mode?: number): number;
  /** fcntl(F_SETPIPE_SZ): returns the size the kernel granted. */
  setPipeSize(fd: number, bytes: number): number;
  /** A pty pair: umld keeps the master; UML gets the slave as a tty: channel. */
  openpty(): { master: number; slave: string };
  /** SO_PEERCRED: the uid of the peer of a connected unix socket. */
  peerUid(fd: number): number;
}

const require = createRequire(import.meta.url);
// dist/core/native.js -> <repo>/native/build/Release
export const native: NativeModule = require("../../native/build/Release/uds_dgram.node") as NativeModule;
