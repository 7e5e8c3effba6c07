import { readFileSync } from "node:fs";

/** The reference's fastest boot: no legacy ptys, no raid6 benchmark, no delay-loop calibration. */
export function defaultBootOptions(lpj: number = hostLpj()): string[] {
  return ["pty.legacy_count=0", "initcall_blacklist=raid6_select_algo", `lpj=${lpj}`];
}

/** loops_per_jiffy for UML's HZ=100 from the host's BogoMIPS (lpj = bogomips * 500000 / HZ). */
export function hostLpj(cpuinfo?: string): number {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/cpuinfo", "utf8");
    } catch {
      text = "";
    }
  }
  const m = /^bogomips\s*:\s*([\d.]+)/im.exec(text);
  const bogo = m ? Number(m[1]) : NaN;
  return Number.isFinite(bogo) && bogo > 0 ? Math.round(bogo * 5000) : 21434368;
}

export interface LaunchSpec {
  kernelPath: string;
  umid: string;
  umlDir: string;
  memoryMiB: number;
  rootCow: string;
  rootBacking: string;
  notifySocket: string;
  hostname: string;
  hostfsDir: string;
  bootOptions: readonly string[];
  /** extra device options built by the daemon, e.g. ubd1=/path (data disks) */
  devices?: readonly string[];
}

export interface Launch {
  command: string;
  args: string[];
}

/** setarch's name for this machine: ASLR off needs the personality call for the right arch. */
export function setarchMachine(arch: string = process.arch): string {
  const m: Record<string, string> = { x64: "x86_64", ia32: "i386", arm64: "aarch64" };
  return m[arch] ?? arch;
}

/**
 * The UML kernel's arguments. Pure: every value was validated before (names
 * by the protocol allow-list, paths built by the daemon). umld runs them in
 * the guest's jail (core/jail/guest-jail.ts), which also turns ASLR off, so
 * guest memory is exactly what was asked.
 */
export function umlArgs(s: LaunchSpec): string[] {
  for (const p of [s.rootCow, s.rootBacking, s.umlDir, s.notifySocket, s.hostfsDir]) {
    if (/[,:\s=]/.test(p)) throw new RangeError(`path not usable on a UML command line: ${p}`);
  }
  return [
    `umid=${s.umid}`,
    `uml_dir=${s.umlDir.endsWith("/") ? s.umlDir : `${s.umlDir}/`}`,
    `mem=${s.memoryMiB}M`,
    `ubd0=${s.rootCow},${s.rootBacking}`,
    ...(s.devices ?? []),
    "root=/dev/ubda",
    "rw",
    // a reboot ends the process (status 0) instead of re-executing it in place, which raced on the root COW's lock:
    // the supervisor starts a fresh process
    "noreboot",
    "con=null",
    "ssl=null",
    "con0=fd:0,fd:1",
    `mconsole=notify:${s.notifySocket}`,
    `hostfs=${s.hostfsDir}`,
    `umld.hostname=${s.hostname}`,
    ...s.bootOptions,
  ];
}

/** Raw linux.uml under `setarch -R`, no jail: the baseline bench/boot.ts compares umld against. */
export function rawLaunch(s: LaunchSpec): Launch {
  return { command: "setarch", args: [setarchMachine(), "-R", s.kernelPath, ...umlArgs(s)] };
}
