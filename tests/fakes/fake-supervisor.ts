import { EventEmitter } from "node:events";
import type { SupervisorThread } from "../../core/supervisor/host.js";
import type { Call, FromWorker, Notice, Reply, RequestKind, ToWorker, WorkerBootSpec, WorkerOutput } from "../../core/supervisor/rpc.js";

/** pids above the kernel's pid_max (at most 2^22): a signal to one finds nothing, whatever the daemon does with it */
let nextPid = 5_000_000;

/**
 * A supervisor thread with no thread and no UML behind it, for the in-process
 * tests: it speaks the supervisor protocol (core/supervisor/rpc.ts) the way a
 * healthy guest's supervisor does. A boot is spawned, booted and ready at
 * once; shutdown and halt end it; a reboot asks for its spec again; pause and
 * resume answer; mconsole answers `proc meminfo` from the memory the guest
 * has (plugged and unplugged with `config mem=`) and anything else with "".
 * `log` records every request and notice, for tests that look at what core asked.
 */
export class FakeSupervisorThread extends EventEmitter implements SupervisorThread {
  readonly log: string[] = [];
  private memMiB = 0;
  /** what the guest's processes use: the rest of its memory is free (so a plug or unplug moves MemFree by its size) */
  private readonly usedMiB = 12;
  private alive = true;

  constructor() {
    super();
    setImmediate(() => this.post({ t: "idle" }));
  }

  postMessage(message: unknown): void {
    const m = message as ToWorker;
    if (!this.alive) return;
    if (m.t === "notice") this.onNotice(m);
    else this.onCall(m);
  }

  terminate(): Promise<number> {
    if (this.alive) {
      this.alive = false;
      setImmediate(() => this.emit("exit", 1));
    }
    return Promise.resolve(1);
  }

  private onNotice(n: Notice): void {
    this.log.push(`notice ${n.kind}`);
    switch (n.kind) {
      case "boot":
        return this.boot(n.args.spec, "spawned");
      case "respawn":
        if (n.args.spec) return this.boot(n.args.spec, "respawned");
        return this.fact({ t: "exited", code: null, signal: null, reason: n.args.error, requested: false });
      default:
        return; // standby launchers and the watchdog have nothing to do here
    }
  }

  private boot(spec: WorkerBootSpec, how: "spawned" | "respawned"): void {
    const memArg = spec.args.find((a) => a.startsWith("mem="));
    this.memMiB = memArg ? Number.parseInt(memArg.slice(4), 10) : 64;
    const at = Date.now();
    this.fact({ t: how, pid: nextPid++, at });
    this.fact({ t: "booted", mconsolePath: spec.mconsoleInJail, at });
    this.fact({ t: "ready", bootMs: 1, via: "notify" });
  }

  private onCall(c: Call): void {
    this.log.push(`call ${c.kind}`);
    switch (c.kind) {
      case "action": {
        this.reply(c, {});
        const a = c.args.action;
        if (a === "shutdown" || a === "halt") this.fact({ t: "exited", code: 0, signal: null, reason: a === "halt" ? "halted" : "shut down", requested: true });
        if (a === "reboot") this.fact({ t: "rebooting", reason: "reboot requested", cpuNs: null });
        return;
      }
      case "mconsole":
        return this.reply(c, this.mconsole(c.args.command));
      case "console-in":
      case "channel-in":
        return this.reply(c, true);
      case "scrollback":
      case "channel-scrollback":
        return this.reply(c, { data: new Uint8Array(0), end: 0 });
      case "channel-open":
        return this.reply(c, "/dev/pts/fake");
      case "channel-close":
      case "jail":
        return this.reply(c, null);
      case "detach":
        this.reply(c, null);
        void this.terminate();
        return;
    }
  }

  private mconsole(command: string): string {
    const plug = /^config mem=([+-])(\d+)M$/.exec(command);
    if (plug) this.memMiB += (plug[1] === "+" ? 1 : -1) * Number(plug[2]);
    if (command !== "proc meminfo") return "";
    const kb = this.memMiB * 1024;
    const free = Math.max(0, this.memMiB - this.usedMiB) * 1024;
    return `MemTotal:       ${kb} kB\nMemFree:        ${free} kB\nMemAvailable:   ${free} kB\n`;
  }

  private reply<K extends RequestKind>(c: Call<K>, value: Reply<K>): void {
    setImmediate(() => this.post({ t: "reply", id: c.id, kind: c.kind, value } as WorkerOutput));
  }

  private fact(f: FromWorker): void {
    setImmediate(() => this.post(f));
  }

  private post(m: WorkerOutput): void {
    if (this.alive) this.emit("message", m);
  }
}
