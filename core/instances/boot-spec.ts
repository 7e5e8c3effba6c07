import type { GuestIdentity } from "../guest/identity.js";
import type { CgroupLayout, CgroupLimits } from "../jail/cgroups.js";
import type { JailFile } from "../jail/elf-deps.js";
import { guestJail } from "../jail/guest-jail.js";
import { jailArgv } from "../jail/jail-spec.js";
import { instanceFiles, type StatePaths } from "../paths.js";
import type { InstanceRow } from "../store/instances-repo.js";
import { umlArgs } from "../uml/argv.js";
import { bootOptionProblem } from "../../protocol/names.js";
import type { WorkerBootSpec } from "../supervisor/rpc.js";

/** Everything a start needs, gathered by start.ts from the catalog, the disks and the networks. */
export interface BootInputs {
  paths: StatePaths;
  launcher: string;
  cgroups: CgroupLayout | null;
  /** the guest's cgroup under umld's parent and its limits (guest-limits.ts) */
  cgroup: { name: string; limits: CgroupLimits };
  identity: GuestIdentity;
  /** the kernel and its loader and libraries */
  kernel: { path: string; files: JailFile[] };
  rootCow: string;
  rootBacking: string;
  /** data disks as files in the jail */
  dataDisks: Array<{ path: string; backing: string | null; writable: boolean }>;
  /** device options (ubdN=, ethN=) for the kernel command line */
  devices: string[];
  /** a TAP NIC (then /dev/net/tun), helpers UML starts (slirp) and the switch sockets directory */
  tun: boolean;
  extraFiles: JailFile[];
  maxProcesses: number;
  scrollbackBytes: number;
  consoleLogMaxBytes: number;
}

/** The instance's stored boot options that the allow-list still accepts (one stored by an older umld may not be). */
export function allowedBootOptions(row: Pick<InstanceRow, "boot_options">): string[] {
  return (JSON.parse(row.boot_options) as string[]).filter((o) => bootOptionProblem(o) === null);
}

/** The worker's boot spec of one instance: its jail, its kernel command line, its files. Pure. */
export function bootSpec(row: InstanceRow, b: BootInputs): WorkerBootSpec {
  const f = instanceFiles(b.paths.instanceDir(row.id));
  const umlDir = b.paths.umlDir(row.id);
  const hostfsEmpty = `${f.dir}/hostfs`;
  const args = umlArgs({
    kernelPath: b.kernel.path,
    umid: row.id,
    umlDir,
    memoryMiB: row.max_memory_mib,
    rootCow: b.rootCow,
    rootBacking: b.rootBacking,
    notifySocket: f.notifySocket,
    hostname: row.name.slice(row.name.indexOf(".") + 1), // a tenant's guest is called by its name in the tenant, not the stored "<tenant>.<name>"
    hostfsDir: row.hostfs_dir ?? hostfsEmpty, // an empty directory in the jail unless an admin granted one
    bootOptions: allowedBootOptions(row),
    devices: b.devices,
  });
  const cgroup = b.cgroups ? { layout: b.cgroups, name: b.cgroup.name, limits: b.cgroup.limits } : null;
  const jail = guestJail(
    {
      jailRoot: b.paths.jailRoot,
      identity: b.identity,
      cgroups: [], // the worker places the launcher: a standby one is in its cgroup already, a fresh one gets --cgroup
      kernel: { path: b.kernel.path, deps: b.kernel.files.filter((x) => x.at !== b.kernel.path) },
      disks: [{ path: b.rootCow, backing: b.rootBacking, writable: true }, ...b.dataDisks],
      sockDir: f.sockDir,
      umlDir,
      memoryMiB: row.max_memory_mib,
      hostfs: row.hostfs_dir ? { granted: row.hostfs_dir } : { empty: hostfsEmpty },
      tun: b.tun,
      extra: b.extraFiles,
      maxProcesses: b.maxProcesses,
    },
    args,
  );
  const launch = jailArgv(jail, b.launcher);
  return {
    instanceId: row.id,
    command: launch.command,
    args: launch.args,
    // HOME: nothing the guest may write (slirp reads $HOME/.slirprc); uml_dir and TMPDIR are its tmpfs
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/", TMPDIR: umlDir, LANG: "C" },
    guest: { uid: b.identity.uid, gid: b.identity.gid },
    files: f,
    mconsoleInJail: b.paths.mconsoleSocket(row.id),
    cgroup,
    launcher: b.launcher,
    jailHolds: [...jail.readOnly.map((x) => x.at), ...jail.readWrite, ...jail.devices],
    hangTimeoutMs: row.hang_timeout_s * 1000,
    scrollbackBytes: b.scrollbackBytes,
    consoleLogMaxBytes: b.consoleLogMaxBytes,
  };
}
