import { createRequire } from "node:module";

/**
 * The project's own addon (native/*.c). Every error it throws is an Error with `.code`
 * ("ENOENT", "ELOOP", "EINVAL"...), `.errno` (negative, as Node's) and `.syscall`.
 */
export interface NativeDgramSocket {
  /** Starts receiving. */
  bind(path: string): void;
  /** `/proc/self/fd/N` with N an O_PATH fd of the socket file reaches it without resolving its path again. */
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

export type FileKind = "file" | "dir" | "socket" | "fifo" | "symlink" | "char" | "block" | "other";
export interface FdStat {
  kind: FileKind;
  /** permission bits only (& 0o7777) */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  dev: number;
  ino: number;
}

/** perms are 0..7 (r=4 w=2 x=1); ids are uids/gids. */
export interface PosixAcl {
  user: number;
  group: number;
  other: number;
  /** default with named entries: the union of the named and group perms */
  mask?: number;
  users?: Array<[uid: number, perm: number]>;
  groups?: Array<[gid: number, perm: number]>;
}

interface NativeModule {
  Socket: new (onMessage: OnDatagram) => NativeDgramSocket;
  mkfifo(path: string, mode: number): void;
  /**
   * open(2) outside Node's fs, for descriptors libuv will own and close (see native/fd_ops.c).
   * Always O_NOFOLLOW|O_CLOEXEC: a symlink as the LAST component is refused (ELOOP); use openPath for whole paths.
   */
  openFd(path: string, flags: number, mode?: number): number;
  /**
   * openat(2) of one name below a trusted directory fd (>= 0), never a symlink (ELOOP, even with O_PATH);
   * O_CLOEXEC always. Refuses "", ".", ".." and names with "/" (EINVAL). `mode` (default 0o600) for O_CREAT.
   */
  openAt(dirFd: number, name: string, flags: number, mode?: number): number;
  /**
   * open(2) of an absolute path with no symlink in any component (openat2 RESOLVE_NO_SYMLINKS: ELOOP;
   * ENOTDIR for a middle symlink where the kernel lacks openat2). Refuses relative paths and ".." (EINVAL).
   */
  openPath(path: string, flags: number, mode?: number): number;
  /** openPath's fallback for kernels without openat2, always used: exported for its test. */
  openPathWalk(path: string, flags: number, mode?: number): number;
  closeFd(fd: number): void;
  /** fstat(2); works on O_PATH fds: check what was opened before using it. */
  fstatKind(fd: number): FdStat;
  /** O_PATH from the C headers (Node's fs.constants lacks it). */
  O_PATH: number;
  /**
   * Writes a POSIX ACL (system.posix_acl_access or _default) without following a symlink: a path goes to
   * lsetxattr (last component never followed), an fd (e.g. O_PATH) is set through /proc/self/fd/N.
   * A "default" ACL without users, groups or mask removes the default ACL.
   */
  setAcl(target: string | number, which: "access" | "default", acl: PosixAcl): void;
  /**
   * posix_spawn (no copy of the daemon's page tables) in a new session with default signal
   * dispositions and fds 0-2 from `fds`; its exit is watched through a pidfd and reported once
   * (code, or signal name like "SIGKILL"; both null when its status was lost). Returns the pid.
   */
  spawnWatched(file: string, argv: string[], envp: string[], fds: [number, number, number], onExit: (code: number | null, signal: string | null) => void): number;
  /** pipe2(O_CLOEXEC): [read end, write end], outside Node's fs (closeFd them). */
  pipe(): [number, number];
  /** fcntl(F_SETPIPE_SZ): returns the size the kernel granted. */
  setPipeSize(fd: number, bytes: number): number;
  /** A pty pair: umld keeps the master; UML gets the slave as a tty: channel. */
  openpty(): { master: number; slave: string };
  /** SO_PEERCRED: the uid of the peer of a connected unix socket. */
  peerUid(fd: number): number;
  /** The [start, end) parts of a regular file that hold data (SEEK_DATA/SEEK_HOLE); the whole file where the filesystem cannot tell. */
  dataExtents(fd: number): Array<[start: number, end: number]>;
}

const require = createRequire(import.meta.url);
// dist/core/native.js -> <repo>/native/build/Release
export const native: NativeModule = require("../../native/build/Release/uds_dgram.node") as NativeModule;
