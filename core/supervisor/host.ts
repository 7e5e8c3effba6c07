import { EventEmitter } from "node:events";
import { Worker } from "node:worker_threads";
import { UmldError } from "../errors.js";
import type { CgroupLayout } from "../jail/cgroups.js";
import type { JailChange } from "../jail/jail-spec.js";
import type { Args, Call, ConsoleSnapshot, FromWorker, Notice, NoticeKind, Notices, Reply, ReplyOk, RequestKind, SupervisedAction, WorkerBootSpec, WorkerOutput } from "./rpc.js";
import { transferable } from "./rpc.js";

const WORKER_URL = new URL("./worker.js", import.meta.url);

/**
 * Worker heap limits: a supervisor holds a scrollback ring and a few sockets, nothing more. A 1 MiB young
 * generation saves ~0.8 MiB of RSS per guest against 4 (bench/supervision.ts; docs/ARCHITECTURE.md
 * "What a supervisor costs"); console bytes are Buffers outside the heap, so only scavenges get more frequent.
 */
const RESOURCE_LIMITS = { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 1, stackSizeMb: 1 };

/** What the main thread needs of a supervisor thread: a worker_threads Worker, or a fake one in the in-process tests. */
export interface SupervisorThread {
  on(event: "message", listener: (m: WorkerOutput) => void): unknown;
  on(event: "error", listener: (e: Error) => void): unknown;
  on(event: "exit", listener: (code: number) => void): unknown;
  /** a ToWorker message (typed where it is built: Call<K>, Notice<K>) */
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
  terminate(): Promise<number>;
}

/** Node's profiling options stay on the main thread: inherited, they would profile (and slow) every supervisor. */
const WORKER_EXEC_ARGV = process.execArgv.filter((a) => !/^--(cpu|heap)-prof/.test(a));

/** A real supervisor thread: core/supervisor/worker.ts in a worker with small heap limits. */
export const workerThread = (): SupervisorThread => new Worker(WORKER_URL, { resourceLimits: RESOURCE_LIMITS, execArgv: WORKER_EXEC_ARGV });

export interface SupervisorEvents {
  message: [FromWorker];
  gone: [{ code: number; error?: Error }];
}

interface Pending<K extends RequestKind> {
  resolve: (value: Reply<K>) => void;
  reject: (e: UmldError) => void;
}
/** Calls waiting for their reply, one map per kind: a reply's kind picks the map, so its value needs no cast. */
type PendingCalls = { [K in RequestKind]: Map<number, Pending<K>> };

/**
 * The main thread's handle on one supervisor worker. Never blocks: every call
 * is a message; replies come back as promises typed by the request's kind. If
 * the worker dies, pending calls fail and `gone` is emitted; the daemon carries on.
 */
export class SupervisorHost extends EventEmitter<SupervisorEvents> {
  private nextId = 1;
  private readonly pending: PendingCalls = {
    action: new Map(),
    mconsole: new Map(),
    "console-in": new Map(),
    scrollback: new Map(),
    "channel-open": new Map(),
    "channel-close": new Map(),
    "channel-in": new Map(),
    "channel-scrollback": new Map(),
    jail: new Map(),
    detach: new Map(),
  };
  private alive = true;
  readonly idle: Promise<void>;

  constructor(private readonly worker: SupervisorThread = workerThread()) {
    super();
    let markIdle!: () => void;
    this.idle = new Promise((r) => (markIdle = r));
    worker.on("message", (m: WorkerOutput) => {
      switch (m.t) {
        case "idle":
          return markIdle();
        case "reply":
          return this.settle(m);
        case "failed": {
          const p = this.pending[m.kind].get(m.id);
          this.pending[m.kind].delete(m.id);
          return p?.reject(UmldError.fromPlain(m.error));
        }
        default:
          this.emit("message", m);
      }
    });
    worker.on("error", (error) => this.onGone(1, error));
    worker.on("exit", (code) => this.onGone(code));
  }

  get isAlive(): boolean {
    return this.alive;
  }

  /** Spawns a standby launcher in a spare cgroup now, so a later boot does not wait for either. */
  standby(launcher: string, cgroups: CgroupLayout): void {
    this.notify("standby", { launcher, cgroups });
  }

  boot(spec: WorkerBootSpec): void {
    this.notify("boot", { spec });
  }

  action(action: SupervisedAction, timeoutMs: number): Promise<Reply<"action">> {
    return this.call("action", { action, timeoutMs });
  }

  mconsole(command: string, timeoutMs = 5000): Promise<string> {
    return this.call("mconsole", { command, timeoutMs });
  }

  scrollback(): Promise<ConsoleSnapshot> {
    return this.call("scrollback", {});
  }

  openChannel(channel: string): Promise<string> {
    return this.call("channel-open", { channel });
  }

  async closeChannel(channel: string): Promise<void> {
    await this.call("channel-close", { channel });
  }

  channelScrollback(channel: string): Promise<ConsoleSnapshot> {
    return this.call("channel-scrollback", { channel });
  }

  /** Resolves false when the input was dropped: the guest is not reading the line. */
  channelInput(channel: string, data: Buffer): Promise<boolean> {
    const t = transferable(data);
    return this.call("channel-in", { channel, data: t.data }, [t.buffer]);
  }

  /** Adds mounts to (or removes them from) the running guest's jail: a hot-plugged disk, a TAP, slirp, a pty. */
  async changeJail(change: Omit<JailChange, "pid">): Promise<void> {
    await this.call("jail", { change });
  }

  /** The answer to a `rebooting` fact: start the guest again from this spec, or end it (crashed) with `error`. */
  respawn(spec: WorkerBootSpec | null, error = "no boot spec"): void {
    this.notify("respawn", spec ? { spec } : { spec: null, error });
  }

  setWatchdog(hangTimeoutMs: number): void {
    this.notify("watchdog", { hangTimeoutMs });
  }

  /** Resolves false when the input was dropped: the guest is not reading its console (e.g. paused) and the worker's bounded queue is full. */
  consoleInput(data: Buffer): Promise<boolean> {
    const t = transferable(data);
    return this.call("console-in", { data: t.data }, [t.buffer]);
  }

  /** Release the guest without stopping it (daemon shutdown). */
  async detach(): Promise<void> {
    if (!this.alive) return;
    await Promise.race([this.call("detach", {}), new Promise((r) => setTimeout(r, 1000))]).catch(() => {});
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }

  /** One request; the reply's type follows from its kind. */
  call<K extends RequestKind>(kind: K, args: Args<K>, transfer: ArrayBuffer[] = []): Promise<Reply<K>> {
    if (!this.alive) return Promise.reject(new UmldError("host_error", "supervisor worker is gone"));
    const id = this.nextId++;
    const message: Call<K> = { t: "call", id, kind, args };
    return new Promise((resolve, reject) => {
      this.pending[kind].set(id, { resolve, reject });
      this.worker.postMessage(message, transfer);
    });
  }

  private settle<K extends RequestKind>(m: ReplyOk<K>): void {
    const calls = this.pending[m.kind];
    const p = calls.get(m.id);
    calls.delete(m.id);
    p?.resolve(m.value);
  }

  private notify<K extends NoticeKind>(kind: K, args: Notices[K]): void {
    const message: Notice<K> = { t: "notice", kind, args };
    if (this.alive) this.worker.postMessage(message);
  }

  private onGone(code: number, error?: Error): void {
    if (!this.alive) return;
    this.alive = false;
    const err = new UmldError("host_error", `supervisor worker exited (${error?.message ?? `code ${code}`})`);
    for (const calls of Object.values(this.pending)) {
      for (const p of calls.values()) p.reject(err);
      calls.clear();
    }
    this.emit("gone", { code, error });
  }
}

/**
 * Keeps one loaded, idle worker in reserve so a start never waits for a
 * thread to boot and load its modules (tens of ms, the size of a whole
 * tuned UML boot). The reserve is refilled shortly after it is taken.
 */
export class WorkerPool {
  private spare: SupervisorHost | null = null;
  private refillTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly refillDelayMs = 250,
    /** with cgroups, each spare worker also holds a standby launcher already in a spare cgroup */
    private readonly standby: { launcher: string; cgroups: CgroupLayout } | null = null,
    private readonly thread: () => SupervisorThread = workerThread,
  ) {}

  warm(): void {
    if (this.closed || this.spare) return;
    this.spare = new SupervisorHost(this.thread());
    if (this.standby) this.spare.standby(this.standby.launcher, this.standby.cgroups);
  }

  async take(): Promise<SupervisorHost> {
    let host = this.spare;
    this.spare = null;
    if (!host?.isAlive) host = new SupervisorHost(this.thread());
    await host.idle;
    if (!this.closed && !this.refillTimer) {
      this.refillTimer = setTimeout(() => {
        this.refillTimer = null;
        this.warm();
      }, this.refillDelayMs);
      this.refillTimer.unref();
    }
    return host;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.refillTimer) clearTimeout(this.refillTimer);
    const s = this.spare;
    this.spare = null;
    if (s) {
      await s.detach(); // its standby launcher ends and its spare cgroup goes
      await s.terminate();
    }
  }
}
