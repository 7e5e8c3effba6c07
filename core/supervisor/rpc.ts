import type { PlainError } from "../errors.js";
import type { CgroupLayout, CgroupLimits } from "../jail/cgroups.js";
import type { JailChange } from "../jail/jail-spec.js";

/**
 * The protocol between the main thread and a supervisor worker. Requests are
 * a map from kind to {args, reply}, so a call's reply type follows from its
 * kind on both sides (no casts); facts are what the worker posts unasked.
 * Console bytes travel as Uint8Arrays over freshly allocated ArrayBuffers,
 * transferred, never copied again.
 */

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
  adopt?: { pid: number; paused: boolean /** started unjailed by an older umld: not its uid, no cgroup */; legacy: boolean };
  scrollbackBytes: number;
  consoleLogMaxBytes: number;
  /** The uid/gid the guest runs as: the sockets UML writes to and its channel ptys are made theirs. */
  guest: { uid: number; gid: number };
}

export type SupervisedAction = "shutdown" | "halt" | "reboot" | "pause" | "resume";

/** A console's recent bytes; `end` is the absolute offset of the byte after the last one. */
export interface ConsoleSnapshot {
  data: Uint8Array;
  end: number;
}

/** Request kind → its arguments and what the worker answers. */
export interface Requests {
  action: { args: { action: SupervisedAction; timeoutMs: number }; reply: { graceful?: boolean } };
  /** a raw mconsole command, answered by the guest kernel (multi-part replies joined) */
  mconsole: { args: { command: string; timeoutMs: number }; reply: string };
  /** false when the input was dropped: the guest is not reading its console and the bounded queue is full */
  "console-in": { args: { data: Uint8Array }; reply: boolean };
  scrollback: { args: Record<string, never>; reply: ConsoleSnapshot };
  /** the host pty the channel is on */
  "channel-open": { args: { channel: string }; reply: string };
  "channel-close": { args: { channel: string }; reply: null };
  /** false when the input was dropped: the pty's buffer is full */
  "channel-in": { args: { channel: string; data: Uint8Array }; reply: boolean };
  "channel-scrollback": { args: { channel: string }; reply: ConsoleSnapshot };
  /** mounts added to or removed from the running guest's jail */
  jail: { args: { change: Omit<JailChange, "pid"> }; reply: null };
  /** release the guest without stopping it (daemon going away); the worker ends */
  detach: { args: Record<string, never>; reply: null };
}
export type RequestKind = keyof Requests;
export type Args<K extends RequestKind> = Requests[K]["args"];
export type Reply<K extends RequestKind> = Requests[K]["reply"];

/** Messages that need no answer. */
export interface Notices {
  boot: { spec: WorkerBootSpec };
  /** spawn a standby launcher in a spare cgroup now, so a later boot waits for neither */
  standby: { launcher: string; cgroups: CgroupLayout };
  watchdog: { hangTimeoutMs: number };
  /** the answer to `rebooting`: the instance's spec as of now (devices plugged or unplugged since its boot), or why there is none */
  respawn: { spec: WorkerBootSpec } | { spec: null; error: string };
}
export type NoticeKind = keyof Notices;

/** A request on the wire; generic in its kind so a handler's argument and reply types follow from it. */
export type Call<K extends RequestKind = RequestKind> = { [P in K]: { t: "call"; id: number; kind: P; args: Args<P> } }[K];
export type Notice<K extends NoticeKind = NoticeKind> = { [P in K]: { t: "notice"; kind: P; args: Notices[P] } }[K];
export type ToWorker = Call | Notice;

/** The answer to a call, or its failure; both name the call's kind. */
export type ReplyOk<K extends RequestKind = RequestKind> = { [P in K]: { t: "reply"; id: number; kind: P; value: Reply<P> } }[K];
export type ReplyFailed = { t: "failed"; id: number; kind: RequestKind; error: PlainError };
export type ReplyMessage = ReplyOk | ReplyFailed;

/** What a worker tells the main thread unasked: the facts the manager applies. */
export type FromWorker =
  | { t: "spawned"; pid: number; at: number }
  /** the guest rebooted: its process ended and its cgroup is gone; the main thread answers with a `respawn` notice */
  | { t: "rebooting"; reason: string; cpuNs: number | null }
  /** the new UML process of a rebooted guest */
  | { t: "respawned"; pid: number; at: number }
  | { t: "adopted"; pid: number; mconsole: boolean }
  | { t: "booted"; mconsolePath: string; at: number }
  | { t: "ready"; bootMs: number; via: "notify" | "console" }
  | { t: "panic"; message: string }
  | { t: "hang"; sinceS: number; probe: string; source: "probe" | "watchdog" }
  | { t: "console"; data: Uint8Array; offset: number }
  | { t: "channel-data"; channel: string; data: Uint8Array; offset: number }
  /** cpuNs (also on rebooting): the CPU time of the ended process's cgroup, read just before it was removed (null: no cgroup) */
  | { t: "exited"; code: number | null; signal: string | null; reason: string; requested: boolean; cpuNs?: number | null }
  | { t: "log"; level: "debug" | "info" | "warn" | "error"; msg: string; fields?: Record<string, unknown> }
  | { t: "fatal"; error: PlainError };

/** Everything the worker posts: facts, replies, and `idle` once its modules are loaded. */
export type WorkerOutput = FromWorker | ReplyMessage | { t: "idle" };

/** A copy of `bytes` over an ArrayBuffer of its own, and that buffer, to transfer. */
export function transferable(bytes: Uint8Array): { data: Uint8Array; buffer: ArrayBuffer } {
  const buffer = new ArrayBuffer(bytes.byteLength);
  const data = new Uint8Array(buffer);
  data.set(bytes);
  return { data, buffer };
}
