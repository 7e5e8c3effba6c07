import type { PlainError } from "../errors.js";
import type { CgroupLayout, CgroupLimits } from "../jail/cgroups.js";
import type { JailChange } from "../jail/jail-spec.js";

/** Everything the worker needs to run one guest; paths were built and checked on the main thread. */
export interface WorkerBootSpec {
  instanceId: string;
  /** the jail launcher and its arguments (it execs the kernel: one pid) */
  command: string;
  args: string[];
  env: Record<string, string>;
  files: {
    dir: string;
    sockDir: string;
    notifySocket: string;
    mconsoleClient: string;
    consoleIn: string;
    consoleOut: string;
    consoleLog: string;
    stderrLog: string;
  };
  /** the guest's mconsole socket as a path inside its jail (reached through /proc/<pid>/root, never a path it announces) */
  mconsoleInJail: string;
  /** the guest's cgroup: made before the spawn, killed and removed after the exit */
  cgroup: { layout: CgroupLayout; name: string; limits: CgroupLimits } | null;
  /** the jail launcher, also used to add or remove mounts of the running jail */
  launcher: string;
  /** what the jail holds at boot (paths inside it): the main thread's record, so hot-plugs add only what is missing */
  jailHolds: string[];
  /** hang watchdog: report when the guest kernel makes no progress this long (0: off) */
  hangTimeoutMs: number;
  /** Supervise an already running UML process (after a daemon restart) instead of spawning one. */
  adopt?: { pid: number; paused: boolean; /** started unjailed by an older umld: not its uid, no cgroup */ legacy: boolean };
  scrollbackBytes: number;
  consoleLogMaxBytes: number;
  /** The uid/gid the guest runs as: the sockets UML writes to and its channel ptys are made theirs. */
  guest: { uid: number; gid: number };
}

export type SupervisedAction = "shutdown" | "halt" | "reboot" | "pause" | "resume";

export type ToWorker =
  | { t: "boot"; spec: WorkerBootSpec }
  | { t: "standby"; launcher: string; cgroups: CgroupLayout }
  | { t: "action"; id: number; action: SupervisedAction; timeoutMs: number }
  | { t: "mconsole"; id: number; command: string; timeoutMs: number }
  /** replied with `true`, or `false` when the input was dropped because the guest is not reading it */
  | { t: "console-in"; id: number; data: Uint8Array }
  | { t: "scrollback"; id: number }
  | { t: "detach"; id: number }
  | { t: "watchdog"; hangTimeoutMs: number }
  | { t: "channel-open"; id: number; channel: string }
  | { t: "channel-close"; id: number; channel: string }
  | { t: "channel-in"; id: number; channel: string; data: Uint8Array }
  | { t: "channel-scrollback"; id: number; channel: string }
  | { t: "jail"; id: number; change: Omit<JailChange, "pid"> };

export type FromWorker =
  | { t: "idle" }
  | { t: "spawned"; pid: number; at: number }
  | { t: "adopted"; pid: number; mconsole: boolean }
  | { t: "booted"; mconsolePath: string; at: number }
  | { t: "ready"; bootMs: number; via: "notify" | "console" }
  | { t: "panic"; message: string }
  | { t: "hang"; sinceS: number; probe: string; source: "probe" | "watchdog" }
  | { t: "console"; data: Uint8Array; offset: number }
  | { t: "channel-data"; channel: string; data: Uint8Array; offset: number }
  /** cpuNs: the CPU time of the guest's cgroup, read just before it was removed (null: no cgroup) */
  | { t: "exited"; code: number | null; signal: string | null; reason: string; requested: boolean; cpuNs?: number | null }
  | { t: "reply"; id: number; ok: true; value?: unknown }
  | { t: "reply"; id: number; ok: false; error: PlainError }
  | { t: "log"; level: "debug" | "info" | "warn" | "error"; msg: string; fields?: Record<string, unknown> }
  | { t: "fatal"; error: PlainError };
