import { EventEmitter } from "node:events";
import { Worker } from "node:worker_threads";
import { UmldError, type PlainError } from "../errors.js";
import type { FromWorker, SupervisedAction, ToWorker, WorkerBootSpec } from "./worker-messages.js";
import type { JailChange } from "../jail/jail-spec.js";
import type { CgroupLayout } from "../jail/cgroups.js";

const WORKER_URL = new URL("./supervisor-worker.js", import.meta.url);

/** Worker heap limits: a supervisor holds a scrollback ring and a few sockets, nothing more. */
const RESOURCE_LIMITS = { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4, stackSizeMb: 1 };

export interface SupervisorEvents {
  message: [FromWorker];
  gone: [{ code: number; error?: Error }];
}

/**
 * The main thread's handle on one supervisor worker. Never blocks: every call
 * is a message; replies come back as promises. If the worker dies, pending
 * calls fail and `gone` is emitted; the daemon carries on.
 */
export class SupervisorHost extends EventEmitter<SupervisorEvents> {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: UmldError) => void }>();
  private alive = true;
  readonly idle: Promise<void>;

  constructor(private readonly worker: Worker = new Worker(WORKER_URL, { resourceLimits: RESOURCE_LIMITS })) {
    super();
    let markIdle!: () => void;
    this.idle = new Promise((r) => (markIdle = r));
    worker.on("message", (m: FromWorker) => {
      if (m.t === "idle") return markIdle();
      if (m.t === "reply") {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.ok) p.resolve(m.value);
        else p.reject(UmldError.fromPlain(m.error));
        return;
      }
      this.emit("message", m);
    });
    worker.on("error", (error) => this.onGone(1, error));
    worker.on("exit", (code) => this.onGone(code));
  }

  get isAlive(): boolean {
    return this.alive;
  }

  /** Spawns a standby launcher in a spare cgroup now, so a later boot does not wait for either. */
  standby(launcher: string, cgroups: CgroupLayout): void {
    this.send({ t: "standby", launcher, cgroups });
  }

  boot(spec: WorkerBootSpec): void {
    this.send({ t: "boot", spec });
  }

  action(action: SupervisedAction, timeoutMs: number): Promise<unknown> {
    return this.call((id) => ({ t: "action", id, action, timeoutMs }));
  }

  mconsole(command: string, timeoutMs = 5000): Promise<string> {
    return this.call((id) => ({ t: "mconsole", id, command, timeoutMs })) as Promise<string>;
  }

  scrollback(): Promise<{ data: Uint8Array; end: number }> {
    return this.call((id) => ({ t: "scrollback", id })) as Promise<{ data: Uint8Array; end: number }>;
  }

  openChannel(channel: string): Promise<string> {
    return this.call((id) => ({ t: "channel-open", id, channel })) as Promise<string>;
  }

  closeChannel(channel: string): Promise<void> {
    return this.call((id) => ({ t: "channel-close", id, channel })) as Promise<void>;
  }

  channelScrollback(channel: string): Promise<{ data: Uint8Array; end: number }> {
    return this.call((id) => ({ t: "channel-scrollback", id, channel })) as Promise<{ data: Uint8Array; end: number }>;
  }

  /** Resolves false when the input was dropped: the guest is not reading the line. */
  channelInput(channel: string, data: Buffer): Promise<boolean> {
    const copy = new Uint8Array(data.length);
    copy.set(data);
    return this.call((id) => ({ t: "channel-in", id, channel, data: copy }), [copy.buffer as ArrayBuffer]) as Promise<boolean>;
  }

  /** Adds mounts to (or removes them from) the running guest's jail: a hot-plugged disk, a TAP, slirp, a pty. */
  changeJail(change: Omit<JailChange, "pid">): Promise<void> {
    return this.call((id) => ({ t: "jail", id, change })) as Promise<void>;
  }

  setWatchdog(hangTimeoutMs: number): void {
    this.send({ t: "watchdog", hangTimeoutMs });
  }

  /** Resolves false when the input was dropped: the guest is not reading its console (e.g. paused) and the worker's bounded queue is full. */
  consoleInput(data: Buffer): Promise<boolean> {
    const copy = new Uint8Array(data.length);
    copy.set(data);
    return this.call((id) => ({ t: "console-in", id, data: copy }), [copy.buffer as ArrayBuffer]) as Promise<boolean>;
  }

  /** Release the guest without stopping it (daemon shutdown). */
  async detach(): Promise<void> {
    if (!this.alive) return;
    await Promise.race([this.call((id) => ({ t: "detach", id })), new Promise((r) => setTimeout(r, 1000))]).catch(() => {});
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }

  private call(make: (id: number) => ToWorker, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (!this.alive) return Promise.reject(new UmldError("host_error", "supervisor worker is gone"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.send(make(id), transfer);
    });
  }

  private send(m: ToWorker, transfer: ArrayBuffer[] = []): void {
    if (this.alive) this.worker.postMessage(m, transfer);
  }

  private onGone(code: number, error?: Error): void {
    if (!this.alive) return;
    this.alive = false;
    const err: PlainError = { code: "host_error", message: `supervisor worker exited (${error?.message ?? `code ${code}`})` };
    for (const p of this.pending.values()) p.reject(UmldError.fromPlain(err));
    this.pending.clear();
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
  ) {}

  warm(): void {
    if (this.closed || this.spare) return;
    this.spare = new SupervisorHost();
    if (this.standby) this.spare.standby(this.standby.launcher, this.standby.cgroups);
  }

  async take(): Promise<SupervisorHost> {
    let host = this.spare;
    this.spare = null;
    if (!host || !host.isAlive) host = new SupervisorHost();
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
