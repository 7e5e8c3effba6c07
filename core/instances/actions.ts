import type { InstanceAction, InstanceView } from "../../protocol/instances.js";
import type { ActionResult, OperationView } from "../../protocol/operations.js";
import { UmldError } from "../errors.js";
import { transition } from "../lifecycle/transitions.js";
import type { Operations } from "../operations/operations.js";
import type { Catalog } from "../storage/catalog.js";
import type { InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import { asObject } from "../util/fs.js";
import { DEFAULT_ACTION_TIMEOUT_S, type ActOptions } from "./commands.js";
import type { Admission } from "./admission.js";
import type { BootQueue } from "./boot-queue.js";
import type { Facts } from "./facts.js";
import type { Guests } from "./guests.js";
import type { KernelUpgrades, UpgradeSteps } from "./kernel-upgrades.js";
import type { OpLock } from "./op-lock.js";
import type { Registry } from "./registry.js";
import type { Starter } from "./start.js";

export type GuestAction = Exclude<InstanceAction, "upgrade">;

export interface ActionDeps {
  repo: InstancesRepo;
  catalog: Catalog;
  operations: Operations;
  registry: Registry;
  lock: OpLock;
  facts: Facts;
  guests: Guests;
  starter: Starter;
  admission: Admission;
  boots: BootQueue;
  view(name: string): InstanceView;
}

/**
 * The lifecycle actions: validated against the transition table, one at a
 * time per instance (the operation lock), run as operations; the state is
 * recorded from the worker's facts, after the side effect.
 */
export class InstanceActions implements UpgradeSteps {
  private upgrades: KernelUpgrades | null = null;
  private readonly upgradeLocks = new Map<string, () => void>();

  constructor(private readonly d: ActionDeps) {}

  setUpgrades(u: KernelUpgrades): void {
    this.upgrades = u;
  }

  async act(name: string, action: InstanceAction, o: ActOptions): Promise<ActionResult> {
    if (action === "upgrade") return this.upgrades!.upgrade(name, o.kernel!, o.deadlineS, o.timeoutS, o.wait);
    const row = this.d.guests.row(name);
    if ((action === "halt" || action === "shutdown") && this.d.boots.queuedOperation(row.id)) {
      // a start that has not booted yet: stopping it means it never boots
      const cancelled = await this.cancelQueuedStart(row.id, name, action);
      return this.operation(`instance.${action}`, name, o.wait, async () => ({ cancelled }));
    }
    const release = this.d.lock.take(row.id, action, name); // a halt may overtake a running action
    let admitted = () => {};
    try {
      transition(row.state, action); // validates: 409 naming both when not allowed
      if (action === "start") {
        admitted = this.d.admission.reserve(row); // before anything changes: a refused start leaves no trace
        if (!o.byPolicy && (row.flag || row.crash_streak)) this.d.repo.update(row.id, { flag: null, crash_streak: 0 });
        if (row.stopped_by_host) this.d.repo.update(row.id, { stopped_by_host: 0 }); // a write (an fsync) only when it changes
        if (row.staged_kernel_id) {
          // a staged kernel boots with the upgrade's safety net: rolled back if it fails
          release();
          try {
            return await this.upgrades!.upgrade(name, this.d.catalog.kernelById(row.staged_kernel_id)!.name, undefined, o.timeoutS, o.wait);
          } finally {
            admitted();
          }
        }
        this.d.starter.checkDisks(row);
      }
    } catch (e) {
      release();
      admitted();
      throw e;
    }
    const timeoutMs = (o.timeoutS ?? DEFAULT_ACTION_TIMEOUT_S[action]) * 1000;
    return this.operation(`instance.${action}`, name, o.wait, (op) =>
      (action === "start" ? this.queuedStart(row, op, timeoutMs) : this.run(row, action, timeoutMs)).finally(() => {
        release();
        admitted();
      }),
    );
  }

  /** Cancels the instance's start still waiting for a boot slot (a halt, shutdown or delete); its operation id, null if none. */
  async cancelQueuedStart(id: string, name: string, by: string): Promise<string | null> {
    const op = this.d.boots.cancel(id, new UmldError("operation_cancelled", `the queued start of '${name}' was cancelled by ${by === "delete" ? "a delete" : `a ${by}`}`, { by }));
    if (op) await this.d.operations.wait(op); // its lock and admission are released when it ends
    return op;
  }

  /** A start waits for a boot slot (its operation says "queued" meanwhile), then boots. */
  private async queuedStart(row: InstanceRow, op: OperationView, timeoutMs: number): Promise<void> {
    const leave = await this.d.boots.enter(row.id, op.id, () => this.d.operations.progress(op.id, { done: 0, total: null, unit: "steps", step: "queued" }));
    try {
      await this.d.starter.start(row, timeoutMs);
    } finally {
      leave();
    }
  }

  /** Runs `work` as an operation; waits for it (failures become the operation's error) unless wait is false. */
  async operation(kind: string, name: string, wait: boolean, work: (op: OperationView) => Promise<unknown>): Promise<ActionResult> {
    const op = this.d.operations.begin(kind, name);
    const run = work(op).then(
      (result) => this.d.operations.succeed(op.id, result ?? null),
      (e) => this.d.operations.fail(op.id, e),
    );
    if (!wait) return { operation: op, instance: this.d.view(name) };
    const done = await run;
    if (done.status === "failed" && done.error) {
      throw new UmldError(done.error.code as UmldError["code"], done.error.message, { ...asObject(done.error.details), operation: done.id });
    }
    return { operation: done, instance: this.d.view(name) };
  }

  private async run(row: InstanceRow, action: GuestAction, timeoutMs: number): Promise<void> {
    if (action === "start") return this.d.starter.start(row, timeoutMs);
    const rt = this.d.registry.get(row.id);
    if (!rt) throw new UmldError("invalid_state", `instance '${row.name}' has no running guest`, { state: row.state, action });
    const facts = this.d.facts;
    switch (action) {
      case "shutdown":
      case "halt": {
        facts.record(row.id, action, action === "halt" ? "halt requested" : "shutdown requested (ctrl-alt-del)");
        const exited = facts.wait(row.id, (f) => f === "exited", timeoutMs + 15_000);
        await rt.host.action(action, timeoutMs);
        await exited;
        return;
      }
      case "reboot": {
        const booted = facts.wait(row.id, (f) => f === "booted" || f === "exited", timeoutMs);
        // the process ends and the supervisor starts a fresh one (worker facts "rebooting", "respawned")
        await rt.host.action("reboot", timeoutMs);
        facts.record(row.id, "reboot", "reboot requested", { ready: false, bootCountIncrement: true });
        await this.d.starter.expectBoot(row, booted, timeoutMs);
        return;
      }
      case "pause":
        await rt.host.action("pause", timeoutMs);
        facts.record(row.id, "pause", "paused (mconsole stop)");
        return;
      case "resume":
        await rt.host.action("resume", timeoutMs);
        facts.record(row.id, "resume", "resumed (mconsole go)");
        return;
    }
  }

  // ---- the steps an upgrade is made of (kernel-upgrades.ts) ----

  row(name: string): InstanceRow {
    return this.d.guests.row(name);
  }
  busyWithName(name: string): string | null {
    return this.d.lock.busyWith(this.row(name).id);
  }
  checkDisksOf(name: string): void {
    this.d.starter.checkDisks(this.row(name));
  }
  markUpgrading(name: string, on: boolean): void {
    const id = this.row(name).id;
    if (on) this.upgradeLocks.set(id, this.d.lock.take(id, "upgrade", name));
    else {
      this.upgradeLocks.get(id)?.();
      this.upgradeLocks.delete(id);
    }
  }
  runOperation(kind: string, name: string, wait: boolean, work: () => Promise<unknown>): Promise<ActionResult> {
    return this.operation(kind, name, wait, work);
  }
  async stopGuest(name: string, how: "shutdown" | "halt", timeoutMs: number): Promise<void> {
    const row = this.row(name);
    if (this.d.registry.has(row.id)) await this.run(row, how, timeoutMs);
  }
  async startGuest(name: string, timeoutMs: number): Promise<void> {
    const row = this.row(name);
    const leave = await this.d.boots.enter(row.id, "", () => {}); // an upgrade's boot takes a slot like any other
    try {
      await this.run(row, "start", timeoutMs);
    } finally {
      leave();
    }
  }
}
