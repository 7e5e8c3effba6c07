/**
 * The supervisor of one guest: its UML process (and the next one after a
 * reboot), console, channels, mconsole, notify socket and hang probe. Runs in
 * a worker thread (worker.ts), or in a test against a fake UML process.
 *
 * INVARIANTS
 * - This supervisor alone drives its UML process: spawn, mconsole, signals. One
 *   lifecycle action runs at a time (the main thread's operation lock sends
 *   one; a second is refused here too).
 * - The guest is stopped only through mconsole, SIGTERM, or a signal to its
 *   whole process group (UML calls setsid(): pid == pgid). Never SIGKILL the
 *   main pid alone: guest processes would keep running on the host.
 * - `halt`/`reboot` are never sent while the guest is paused: `go` first.
 * - A reboot is a new process: guests boot with `noreboot`, so a reboot (asked
 *   for, or from inside the guest) ends the process; the old one's cgroup is
 *   emptied and removed, then the instance's spec as the main thread has it
 *   now is spawned (a fresh jail and cgroup; nothing of the old kernel still
 *   holds the root COW's lock). A stop that was asked for always wins.
 * - The console is carried on FIFOs that the UML process holds open read-write,
 *   so it never sees EOF or EPIPE, carries bulk output at pipe speed, and
 *   survives this worker (and the daemon) going away. They and the channel
 *   ptys outlive each process of the guest.
 * - Nothing here opens SQLite. Facts are posted to the main thread, which
 *   persists them; errors are posted as plain objects ({code, message}).
 * - The guest runs in its jail (core/jail/): its own uid, mount namespace and
 *   cgroup. Root here never follows a path the guest could change: the
 *   sockets are bound in a root-owned directory, the mconsole socket is
 *   reached component by component without following symlinks, and the path a
 *   guest announces is never used. Every process of the guest dies with it
 *   (its cgroup), and the cgroup is removed after it.
 */
import { UmldError } from "../errors.js";
import { processCpuNs } from "../host/procfs.js";
import type { JailChange } from "../jail/jail-spec.js";
import type { NativeDgramSocket } from "../native.js";
import { runAction, type GuestState } from "./actions.js";
import { Channels } from "./channels.js";
import { ConsolePipes } from "./console-pipes.js";
import { GuestMconsole } from "./guest-mconsole.js";
import { endReason, GuestProcess, guestAlive, killStragglers } from "./guest-process.js";
import { JailMounts } from "./jail-mounts.js";
import { bindNotifySocket, dispatchNotify, guestNotes, Readiness } from "./readiness.js";
import { transferable, type FromWorker, type Reply, type SupervisedAction, type WorkerBootSpec } from "./rpc.js";
import { dropStandby, usable, type Standby } from "./standby.js";
import { Watchdog } from "./watchdog.js";

export interface SupervisorPorts {
  post(fact: FromWorker, transfer?: ArrayBuffer[]): void;
  /** everything is released (the guest ended for good, or was detached): the worker may end */
  done(): void;
}

/** How long a guest asked to reboot may take to end its process before its group is killed. */
const REBOOT_EXIT_MS = 15_000;

export class Supervisor {
  private proc: GuestProcess | null = null;
  /** started unjailed by an older umld: no cgroup, not its own uid, restarts in place */
  private legacy = false;
  private readonly state: GuestState = { paused: false, stopRequested: null, rebootRequested: false };
  private busy: SupervisedAction | null = null;
  /** between a reboot's end and the main thread's spec for the next process: how the last one ended */
  private pendingReboot: { code: number | null; signal: string | null; reason: string; timer: NodeJS.Timeout } | null = null;
  private panicMessage: string | null = null;
  private bootStartedAt = 0;
  private closed = false;
  private readonly notifySock: NativeDgramSocket;
  private readonly mconsole: GuestMconsole;
  /** the main console (requests reach it directly: worker.ts) */
  readonly console: ConsolePipes;
  readonly channels: Channels;
  private readonly jail: JailMounts;
  private readonly watchdog: Watchdog;
  private readonly readiness: Readiness;
  private readonly note = guestNotes((msg, fields) => this.log("info", msg, fields));

  /** Binds the notify socket and opens the console log: what spawning and adopting share. */
  constructor(
    /** the guest's spec; a reboot replaces it with the instance's spec as of then (same files, sockets and identity) */
    private spec: WorkerBootSpec,
    private readonly ports: SupervisorPorts,
  ) {
    const warn = (msg: string, fields: Record<string, unknown>) => this.log("warn", msg, fields);
    this.console = new ConsolePipes(spec.files, spec.scrollbackBytes, spec.consoleLogMaxBytes, { data: (c, offset) => this.onConsole(c, offset), warn });
    this.readiness = new Readiness((via) => this.post({ t: "ready", bootMs: Date.now() - this.bootStartedAt, via }));
    this.mconsole = new GuestMconsole(spec.files.mconsoleClient, spec.guest, spec.mconsoleInJail);
    this.jail = new JailMounts(spec.launcher, () => ({ pid: this.proc?.pid ?? 0, legacy: this.legacy }));
    this.channels = new Channels({
      owner: spec.guest,
      data: (channel, chunk, offset) => {
        const t = transferable(chunk);
        this.post({ t: "channel-data", channel, data: t.data, offset }, [t.buffer]);
      },
      warn,
      mconsole: (command) => this.mconsole.request(command),
      mconsoleUp: () => this.mconsole.connected,
      jailed: () => !this.legacy && this.proc !== null && !this.proc.exited,
      changeJail: (c) => this.jail.change(c),
    });
    this.watchdog = new Watchdog(spec.hangTimeoutMs, {
      excused: () => !this.mconsole.connected || this.state.paused || this.busy !== null,
      gone: () => this.proc === null || this.proc.exited,
      stat: (timeoutMs) => this.mconsole.request("proc stat", timeoutMs),
      hang: (sinceS, probe) => this.post({ t: "hang", sinceS, probe, source: "probe" }),
      host: () => ({ cpuNs: this.proc ? processCpuNs(this.proc.pid) : null, consoleBytes: this.console.written }),
    });
    this.notifySock = bindNotifySocket(
      spec.files.notifySocket,
      spec.guest,
      (buf) => this.onNotify(buf),
      (msg) => this.log("warn", msg),
    );
    this.console.openLog();
  }

  // ---- starting ----------------------------------------------------------------

  /** Spawns the guest (through the standby launcher when it fits). Throws a host_error when it cannot. */
  async boot(standby: Standby | null): Promise<void> {
    const fit = await usable(standby, this.spec);
    if (standby && standby !== fit) dropStandby(standby);
    this.proc = this.spawn(fit);
    this.bootStartedAt = this.proc.startedAt;
    this.post({ t: "spawned", pid: this.proc.pid, at: this.proc.startedAt });
    this.console.attach(); // after the spawn: what the guest writes meanwhile waits in the FIFO
  }

  /** Supervises a UML process left running by a previous daemon: same FIFOs, sockets and pid. */
  adopt(a: NonNullable<WorkerBootSpec["adopt"]>): void {
    this.legacy = a.legacy;
    const proc: GuestProcess = GuestProcess.adopt(
      a.pid,
      () => guestAlive(a.pid, this.spec, this.legacy),
      () => this.onEnd(proc, null, null),
    );
    proc.bootedOnce = true;
    this.proc = proc;
    this.state.paused = a.paused;
    this.readiness.assumeReady();
    this.console.seedFromLog();
    this.console.attach();
    let connected = false;
    try {
      this.mconsole.connect(a.pid);
      connected = true;
    } catch (e) {
      this.log("warn", "adopted guest's mconsole not reachable", { error: (e as Error).message });
    }
    this.watchdog.start();
    this.post({ t: "adopted", pid: a.pid, mconsole: connected });
  }

  private spawn(standby: Standby | null): GuestProcess {
    let proc: GuestProcess | null = null;
    // the console and notify bytes written before the exit may still be in flight: read them first (a reboot
    // umld asked for is one whatever they say: its old output reaches the console before the new one's anyway)
    const onExit = (code: number | null, signal: string | null) => setTimeout(() => proc && this.onEnd(proc, code, signal), this.state.rebootRequested ? 0 : 25);
    try {
      proc = GuestProcess.spawn(this.spec, this.console.openForChild(), standby, onExit);
    } catch (e) {
      throw new UmldError("host_error", `cannot start UML: ${(e as Error).message}`, { command: this.spec.command });
    }
    return proc;
  }

  // ---- what the guest says -------------------------------------------------------

  private onConsole(chunk: Buffer, offset: number): void {
    const t = transferable(chunk);
    this.post({ t: "console", data: t.data, offset }, [t.buffer]);
    this.readiness.console(chunk);
  }

  private onNotify(buf: Buffer): void {
    dispatchNotify(buf, {
      socket: (path) => this.onKernelUp(path),
      ready: () => this.readiness.mark("notify"),
      note: this.note,
      panic: (message) => {
        this.panicMessage = message;
        this.post({ t: "panic", message });
      },
      hang: () => this.post({ t: "hang", sinceS: 60, probe: "the guest's /dev/watchdog was not fed for 60 s (uml_watchdog)", source: "watchdog" }),
      unknown: (bytes) => this.log("debug", "unknown notify datagram", { bytes }),
    });
  }

  /** The SOCKET notification: a kernel is up (after a spawn, or restarted in place by a guest an older umld started). */
  private onKernelUp(path: string): void {
    // only where its mconsole must be: a path announced by the guest could name another guest's
    if (path !== this.spec.mconsoleInJail) {
      this.log("warn", "the guest announced another mconsole path; ignored", { expected: this.spec.mconsoleInJail, got: path.slice(0, 200) });
    }
    try {
      if (this.proc) this.mconsole.connect(this.proc.pid);
    } catch (e) {
      this.log("error", "mconsole connect failed", { error: (e as Error).message });
    }
    this.readiness.reset();
    this.state.paused = false;
    this.state.rebootRequested = false;
    this.proc?.keepAlive();
    if (this.proc) this.proc.bootedOnce = true;
    this.console.resetTail();
    this.watchdog.start();
    this.post({ t: "booted", mconsolePath: path, at: Date.now() });
  }

  // ---- the end of a process --------------------------------------------------------

  private onEnd(proc: GuestProcess, code: number | null, signal: string | null): void {
    if (proc !== this.proc || this.closed || proc.exited) return;
    // a moment after the exit: the console and notify bytes written before it are in
    const { stopRequested, rebootRequested } = this.state;
    const r = endReason(
      proc,
      { code, signal, stopRequested, rebootRequested, panicMessage: this.panicMessage, consoleTail: this.console.tail(), endLine: this.console.endLine() },
      this.spec.files.stderrLog,
    );
    if (r.diedAfterHalt) this.log("warn", "the guest had halted or restarted, then UML died in its own teardown", { code, signal, panic: this.panicMessage });
    // a SIGKILL of the main pid alone leaves guest processes running natively: reap them
    if (!proc.adopted) proc.signalGroup("SIGKILL");
    proc.markEnded();
    const cpuNs = killStragglers(this.spec, this.legacy, (msg, fields) => this.log("warn", msg, fields));
    this.mconsole.close();
    this.watchdog.stop();
    if (r.reboot && !this.legacy) {
      // the next process boots from the instance's spec as of now (a disk detached since must not come back)
      const timer = setTimeout(() => this.respawn("the daemon sent no boot spec within 10 s"), 10_000);
      this.pendingReboot = { code, signal, reason: r.reason, timer };
      this.post({ t: "rebooting", reason: r.reason, cpuNs });
      return;
    }
    this.finish(code, signal, r.reason, r.requested, cpuNs);
  }

  /** The guest is gone for good: the main thread is told, gets the last console bytes, then this goes away. */
  private finish(code: number | null, signal: string | null, reason: string, requested: boolean, cpuNs: number | null = null): void {
    this.post({ t: "exited", code, signal, reason, requested, cpuNs });
    setTimeout(() => this.close(), 50);
  }

  /** The main thread's answer to `rebooting`: a fresh process (new jail, new cgroup) from this spec, or the end, with why not. */
  respawn(next: WorkerBootSpec | string): void {
    const p = this.pendingReboot;
    if (!p || this.closed) return;
    clearTimeout(p.timer);
    this.pendingReboot = null;
    if (this.state.stopRequested) return this.finish(p.code, p.signal, this.state.stopRequested, true); // a stop asked for meanwhile wins
    const failed = (why: string) => this.finish(p.code, p.signal, `${p.reason}, but the guest could not be started again: ${why}`, false);
    if (typeof next === "string") return failed(next);
    this.spec = next;
    this.state.rebootRequested = false;
    this.state.paused = false;
    this.panicMessage = null;
    this.readiness.reset();
    this.console.resetTail();
    this.watchdog.setTimeout(next.hangTimeoutMs);
    try {
      this.proc = this.spawn(null);
    } catch (e) {
      return failed((e as Error).message);
    }
    this.bootStartedAt = this.proc.startedAt;
    this.log("info", "guest rebooted: its kernel starts again in a fresh process", { pid: this.proc.pid, reason: p.reason });
    this.post({ t: "respawned", pid: this.proc.pid, at: this.proc.startedAt });
  }

  // ---- requests ----------------------------------------------------------------------

  /** One lifecycle action at a time: a second is refused. */
  async action(action: SupervisedAction, timeoutMs: number): Promise<Reply<"action">> {
    if (this.busy) throw new UmldError("instance_busy", `'${this.busy}' is still running`, { busy: this.busy });
    this.busy = action;
    try {
      return await runAction(
        this.state,
        {
          mc: (command, t) => this.mconsole.request(command, t),
          waitExit: (ms) => (this.proc ? this.proc.waitExit(ms) : Promise.resolve(true)),
          signalGroup: (sig) => this.proc?.signalGroup(sig) ?? false,
          rebootSent: () => {
            this.bootStartedAt = Date.now();
            const pid = this.proc?.pid;
            this.proc?.endWithin(REBOOT_EXIT_MS, () => this.log("warn", "the rebooting guest's process did not end: killing it to start again", { pid }));
          },
          warn: (msg, fields) => this.log("warn", msg, fields),
        },
        action,
        timeoutMs,
      );
    } finally {
      this.busy = null;
    }
  }

  mconsoleCommand(command: string, timeoutMs: number): Promise<string> {
    return this.mconsole.request(command, timeoutMs);
  }

  async changeJail(change: Omit<JailChange, "pid">): Promise<null> {
    try {
      await this.jail.change(change);
      return null;
    } catch (e) {
      throw new UmldError("device_failed", `the guest's jail could not be changed: ${(e as Error).message}`);
    }
  }

  setWatchdog(hangTimeoutMs: number): void {
    this.watchdog.setTimeout(hangTimeoutMs);
    if (this.mconsole.connected) this.watchdog.start();
  }

  /** Releases everything this supervisor holds; the guest (if any) keeps running. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watchdog.stop();
    this.proc?.keepAlive();
    if (this.pendingReboot) clearTimeout(this.pendingReboot.timer);
    this.channels.closeAll();
    this.console.close();
    this.mconsole.close();
    this.notifySock.close();
    this.ports.done();
  }

  private post(fact: FromWorker, transfer?: ArrayBuffer[]): void {
    this.ports.post(fact, transfer);
  }

  private log(level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>): void {
    this.post({ t: "log", level, msg, fields });
  }
}
