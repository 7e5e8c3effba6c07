import type { GuestIdentity } from "../guest/identity.js";
import type { JailFile } from "./elf-deps.js";
import type { JailSpec } from "./jail-spec.js";

const MiB = 1024 * 1024;

/** Descriptors a UML process may hold: disks, sockets, consoles, its RAM file, helpers' pipes. */
export const GUEST_NOFILE = 8192;

/** What one guest's jail holds. Everything else on the host does not exist for its processes. */
export interface GuestJailInput {
  jailRoot: string;
  identity: GuestIdentity;
  cgroups: string[];
  kernel: { path: string; deps: JailFile[] };
  /** root and data disks; a COW's backing file is bound read-only */
  disks: Array<{ path: string; backing: string | null; writable: boolean }>;
  /** root-owned 0711 directory with the notify and mconsole-client sockets */
  sockDir: string;
  /** uml_dir and TMPDIR: a private tmpfs sized for the guest's RAM file */
  umlDir: string;
  memoryMiB: number;
  /** hostfs: the directory an admin granted (read-write for the guest's uid), or an empty one made in the jail */
  hostfs: { granted: string } | { empty: string };
  /** /dev/net/tun: only for a guest with a TAP */
  tun: boolean;
  /** helpers UML starts itself (slirp and its libraries) and the switch sockets directory */
  extra: JailFile[];
  /** most host processes (UML, helpers, one per guest process) */
  maxProcesses: number;
}

/** The jail of one guest's UML process. Pure. */
export function guestJail(i: GuestJailInput, umlArgs: string[]): JailSpec {
  const readOnly = new Map<string, JailFile>();
  const ro = (f: JailFile) => readOnly.set(f.at, f);
  ro({ source: i.kernel.path, at: i.kernel.path });
  i.kernel.deps.forEach(ro);
  i.extra.forEach(ro);
  const readWrite: string[] = [i.sockDir];
  for (const d of i.disks) {
    if (d.writable) readWrite.push(d.path);
    else ro({ source: d.path, at: d.path });
    if (d.backing) ro({ source: d.backing, at: d.backing });
  }
  if ("granted" in i.hostfs) readWrite.push(i.hostfs.granted);
  return {
    root: i.jailRoot,
    uid: i.identity.uid,
    gid: i.identity.gid,
    groups: i.identity.groups,
    cgroups: i.cgroups,
    rlimits: { core: [0, 0], nofile: [GUEST_NOFILE, GUEST_NOFILE], nproc: [i.maxProcesses, i.maxProcesses] },
    noAslr: true,
    readOnly: [...readOnly.values()],
    readWrite: [...new Set(readWrite)],
    devices: i.tun ? ["/dev/net/tun"] : [],
    // the RAM file is exactly memoryMiB with ASLR off; a little more for UML's pid file and socket
    tmpfs: [{ path: i.umlDir, bytes: i.memoryMiB * MiB + 4 * MiB, mode: 0o700 }],
    dirs: "empty" in i.hostfs ? [{ path: i.hostfs.empty, mode: 0o555 }] : [],
    chdir: i.umlDir,
    command: i.kernel.path,
    args: umlArgs,
  };
}
