import type { Logger } from "pino";
import { isActive } from "../lifecycle/transitions.js";
import type { Catalog } from "../storage/catalog.js";
import type { InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import { nowIso } from "../util/ids.js";
import type { EventBus } from "../events/bus.js";
import type { Consoles } from "./consoles.js";
import type { Facts } from "./facts.js";
import type { Registry, Runtime } from "./registry.js";
import type { SupervisorHost } from "../supervisor/host.js";
import type { FromWorker, WorkerBootSpec } from "../supervisor/rpc.js";

/** What happens around a guest's facts, done by the services that own it. */
export interface Reactions {
  /** the kernel's drivers are up: channels, and what was hot-added since the boot (disks, NICs, memory) */
  afterBoot(id: string, rt: Runtime, name: string): void;
  /** its consoles again after an adoption */
  afterAdoption(id: string, rt: Runtime): void;
  /** restart policies */
  afterExit(id: string, requested: boolean, reason: string, upS: number): void;
  /** the boot's CPU time joins the instance's total (cpuNs: read by the worker before its cgroup went) */
  accountExit(id: string, cpuNs: number | null | undefined): void;
  /** a rebooted process's CPU time joins it (its cgroup went; the next process gets a fresh one) */
  accountCpu(id: string, cpuNs: number | null): void;
  onHang(id: string, evidence: { sinceS: number; probe: string; source: "probe" | "watchdog" }): void;
  /** an action of the daemon's own (finishing a stop found half done) */
  act(name: string, action: "halt" | "start", byPolicy: boolean): Promise<unknown>;
  /** the instance's boot spec as of now: a reboot's new process boots from it */
  bootSpec(row: InstanceRow): WorkerBootSpec;
}

/**
 * Worker facts become lifecycle events, persisted and published, and wake
 * whoever waits for them; console bytes go to the viewers. One handler per
 * worker, attached when a worker takes a guest.
 */
export class WorkerFacts {
  constructor(
    private readonly repo: InstancesRepo,
    private readonly catalog: Catalog,
    private readonly registry: Registry,
    private readonly facts: Facts,
    private readonly consoles: Consoles,
    private readonly bus: EventBus,
    private readonly log: Logger,
    private readonly reactions: Reactions,
  ) {}

  /** A worker attached to this instance, its messages handled here. */
  attach(row: InstanceRow, host: SupervisorHost): Runtime {
    const log = this.log.child({ instance: row.name, tenant: row.owner, instanceId: row.id });
    const rt: Runtime = { host, log, jail: new Set(), cgroup: null };
    this.registry.set(row.id, rt);
    this.consoles.hub(row.id).resetOffsets();
    host.on("message", (m) => this.onWorker(row.id, rt, m));
    host.on("gone", (g) => this.onWorkerGone(row.id, rt, g.error));
    return rt;
  }

  private onWorker(id: string, rt: Runtime, m: FromWorker): void {
    if (this.registry.get(id) !== rt) return;
    switch (m.t) {
      case "spawned":
        this.facts.record(id, "start", "guest process started", { pid: m.pid, startedAt: new Date(m.at).toISOString(), ready: false, bootCountIncrement: true });
        this.repo.update(id, { booted_kernel_id: this.repo.byId(id)!.kernel_id, unplugged_mib: 0 });
        rt.log.info({ pid: m.pid }, "UML process spawned");
        break;
      case "rebooting": {
        // a reboot is a new process, booted from the instance's spec as of now (what was plugged or unplugged since)
        this.reactions.accountCpu(id, m.cpuNs);
        const row = this.repo.byId(id);
        if (!row) return rt.host.respawn(null, "the instance is gone");
        try {
          const spec = this.reactions.bootSpec(row);
          rt.jail.clear();
          for (const p of spec.jailHolds) rt.jail.add(p);
          rt.cgroup = spec.cgroup?.name ?? null; // an adopted guest of an older layout moves to its proper level
          rt.host.respawn(spec);
        } catch (e) {
          rt.host.respawn(null, (e as Error).message);
        }
        return;
      }
      case "respawned":
        // a fresh process has all its boot memory: afterBoot re-applies the target
        this.repo.update(id, { pid: m.pid, unplugged_mib: 0 });
        rt.log.info({ pid: m.pid }, "guest rebooted: a fresh UML process");
        return;
      case "adopted": {
        rt.log.info({ pid: m.pid, mconsole: m.mconsole }, "guest re-adopted after a daemon restart");
        if (m.mconsole) this.reactions.afterAdoption(id, rt);
        const row = this.repo.byId(id);
        if (row?.state === "starting" && m.mconsole) this.facts.record(id, "booted", "re-adopted: kernel up, mconsole answers");
        if (row?.state === "stopping") void this.reactions.act(row.name, "halt", false).catch(() => {});
        break;
      }
      case "booted": {
        const row = this.repo.byId(id);
        if (row && this.catalog.imageById(row.image_id)?.readiness !== "notify") {
          // no readiness signal will come: give the drivers a moment
          setTimeout(() => {
            if (this.registry.get(id) === rt) this.reactions.afterBoot(id, rt, row.name);
          }, 2000).unref();
        }
        if (row?.state === "starting") this.facts.record(id, "booted", "kernel up, mconsole ready");
        else if (row?.state === "running") this.facts.record(id, "guest_reboot", "guest rebooted itself", { ready: false, bootCountIncrement: true });
        break;
      }
      case "ready": {
        const row = this.repo.byId(id);
        if (row) {
          this.repo.setReady(id, true, nowIso());
          rt.log.info({ bootMs: m.bootMs, via: m.via }, "guest ready");
          this.bus.publish({ type: "instance.ready", instance: row.name, bootMs: m.bootMs, timestamp: nowIso() });
          // once the kernel's drivers are up (at the SOCKET notification the serial driver may not have
          // applied its command line yet)
          this.reactions.afterBoot(id, rt, row.name);
        }
        break;
      }
      case "console":
        this.consoles.hub(id).broadcast(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength), m.offset);
        return; // not a fact: no waiter cares, keep the hot path short
      case "channel-data":
        this.consoles.hub(id, m.channel).broadcast(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength), m.offset);
        return;
      case "panic":
        rt.log.error({ panic: m.message }, "guest kernel panic");
        break;
      case "hang":
        this.reactions.onHang(id, { sinceS: m.sinceS, probe: m.probe, source: m.source });
        break;
      case "exited":
        this.onExited(id, rt, m);
        break;
      case "log":
        rt.log[m.level](m.fields ?? {}, m.msg);
        return;
      case "fatal":
        rt.log.error({ error: m.error }, "supervisor could not run the guest");
        this.registry.drop(id, rt);
        void rt.host.terminate();
        break;
    }
    if (m.t === "spawned" || m.t === "booted" || m.t === "ready" || m.t === "exited" || m.t === "fatal") this.facts.notify(id, m.t, m);
  }

  private onExited(id: string, rt: Runtime, m: Extract<FromWorker, { t: "exited" }>): void {
    const exit = { code: m.code, signal: m.signal, reason: m.reason };
    const row = this.repo.byId(id);
    const upS = row?.started_at ? (Date.now() - Date.parse(row.started_at)) / 1000 : 0;
    rt.log[m.requested ? "info" : "error"]({ code: m.code, signal: m.signal, reason: m.reason }, "UML process exited");
    this.reactions.accountExit(id, m.cpuNs);
    this.registry.drop(id, rt);
    this.repo.update(id, { booted_kernel_id: null, unplugged_mib: 0 });
    this.facts.record(id, m.requested ? "exited" : "crashed", m.reason, { pid: null, ready: false, exit, startedAt: null });
    setTimeout(() => void rt.host.terminate(), 200).unref();
    this.reactions.afterExit(id, m.requested, m.reason, upS);
  }

  private onWorkerGone(id: string, rt: Runtime, error?: Error): void {
    if (this.registry.get(id) !== rt) return;
    this.reactions.accountExit(id, null);
    this.registry.drop(id, rt);
    const row = this.repo.byId(id);
    rt.log.error({ error: error?.message }, "supervisor worker died; killing its guest so it is not left unmanaged");
    if (row?.pid) {
      try {
        process.kill(-row.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    const reason = `supervisor worker died${error ? `: ${error.message}` : ""}`;
    if (row && isActive(row.state)) {
      this.facts.record(id, "crashed", reason, { pid: null, ready: false, exit: { code: null, signal: "SIGKILL", reason }, startedAt: null });
    }
    this.facts.notify(id, "exited", { t: "exited", code: null, signal: "SIGKILL", reason, requested: false });
  }
}
