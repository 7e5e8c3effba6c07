import { execFile } from "node:child_process";
import { binaryFiles } from "./binary-files.js";
import { jailArgv } from "./jail-spec.js";

/** The probe's scratch directory, a path no binary lives under (a tmpfs there would hide it). */
const SCRATCH = "/umld-probe";

export interface ProbeJail {
  launcher: string;
  jailRoot: string;
  /** an unprivileged uid of umld's range kept for probes, and the group that may read the catalogue */
  uid: number;
  groups: number[];
}

/**
 * Runs an untrusted binary's harmless self-description (`--version`,
 * `--help`) in a throwaway jail as an unprivileged uid: a file an admin
 * registers as a kernel is not code root should ever run.
 */
export function probeJailed(j: ProbeJail, binary: string, args: string[], timeoutMs = 10_000): Promise<string> {
  const spec = jailArgv(
    {
      root: j.jailRoot,
      uid: j.uid,
      gid: j.uid,
      groups: j.groups,
      cgroups: [],
      rlimits: { core: [0, 0], nofile: [64, 64], nproc: [16, 16], fsize: [1 << 20, 1 << 20] },
      noAslr: false,
      readOnly: binaryFiles(binary),
      readWrite: [],
      devices: [],
      tmpfs: [{ path: SCRATCH, bytes: 1 << 20, mode: 0o700 }],
      dirs: [],
      chdir: SCRATCH,
      command: binary,
      args,
    },
    j.launcher,
  );
  return new Promise((resolve, reject) => {
    execFile(spec.command, spec.args, { timeout: timeoutMs, maxBuffer: 1 << 20, env: { PATH: "/usr/bin:/bin", HOME: SCRATCH, TMPDIR: SCRATCH } }, (err, stdout, stderr) => {
      if (err) reject(new Error(String(stderr).trim().split("\n").pop() || err.message));
      else resolve(stdout);
    });
  });
}
