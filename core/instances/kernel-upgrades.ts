import type { Logger } from "pino";
import type { RolloutResult } from "../../protocol/kernels.js";
import type { ActionResult, OperationView } from "../../protocol/operations.js";
import { UmldError } from "../errors.js";
import type { EventBus } from "../events/bus.js";
import type { Operations } from "../operations/operations.js";
import type { Catalog } from "../storage/catalog.js";
import type { InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import { nowIso } from "../util/ids.js";
import { DEFAULT_ACTION_TIMEOUT_S, DEFAULT_UPGRADE_DEADLINE_S } from "./commands.js";
import { asObject } from "../util/fs.js";

/** The lifecycle steps an upgrade is made of (core/instances/actions.ts). */
export interface UpgradeSteps {
  row(name: string): InstanceRow;
  busyWithName(name: string): string | null;
  checkDisksOf(name: string): void;
  markUpgrading(name: string, on: boolean): void;
  runOperation(kind: string, name: string, wait: boolean, work: () => Promise<unknown>): Promise<ActionResult>;
  stopGuest(name: string, how: "shutdown" | "halt", timeoutMs: number): Promise<void>;
  startGuest(name: string, timeoutMs: number): Promise<void>;
}

/**
 * Kernel upgrades: a new kernel needs a new start (a reboot boots the same
 * kernel again), so an upgrade is shutdown + start on the new kernel; if the
 * guest panics, exits or misses its deadline, the previous kernel is restored
 * and started. Rollouts upgrade in batches and stop at the first failed batch.
 */
export class KernelUpgrades {
  constructor(
    private readonly m: UpgradeSteps,
    private readonly repo: InstancesRepo,
    private readonly catalog: Catalog,
    private readonly operations: Operations,
    private readonly bus: EventBus,
    private readonly log: Logger,
  ) {}

  /** `upgrade`: boot `kernelName` now (shutdown first if running); roll back to the previous kernel if it fails. */
  upgrade(name: string, kernelName: string, deadlineS: number | undefined, timeoutS: number | undefined, wait: boolean): Promise<ActionResult> {
    const row = this.m.row(name);
    const kernel = this.catalog.kernel(kernelName);
    const busy = this.m.busyWithName(name);
    if (busy) throw new UmldError("instance_busy", `'${busy}' is still running on '${name}'`, { busy, action: "upgrade" });
    if (!["running", "paused", "stopped", "crashed"].includes(row.state)) {
      throw new UmldError("invalid_state", `cannot upgrade an instance that is ${row.state}`, { state: row.state, action: "upgrade" });
    }
    this.m.checkDisksOf(name);
    this.m.markUpgrading(name, true);
    const deadlineMs = (deadlineS ?? DEFAULT_UPGRADE_DEADLINE_S) * 1000;
    const timeoutMs = (timeoutS ?? DEFAULT_ACTION_TIMEOUT_S.shutdown) * 1000;
    return this.m.runOperation("instance.upgrade", name, wait, () => this.switchKernel(name, kernel.id, deadlineMs, timeoutMs).finally(() => this.m.markUpgrading(name, false)));
  }

  private async switchKernel(name: string, kernelId: string, deadlineMs: number, timeoutMs: number): Promise<unknown> {
    const row = this.m.row(name);
    const previous = row.booted_kernel_id ?? row.kernel_id;
    const kname = (id: string) => this.catalog.kernelById(id)?.name ?? id;
    const from = kname(previous);
    const to = kname(kernelId);
    this.repo.update(row.id, { kernel_id: kernelId, previous_kernel_id: previous, staged_kernel_id: null });
    this.bus.publish({ type: "instance.upgrade", instance: name, from, to, status: "staged", reason: null, timestamp: nowIso() });
    await this.m.stopGuest(name, "shutdown", timeoutMs);
    try {
      await this.m.startGuest(name, deadlineMs);
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      this.log.error({ instance: name, from, to, reason }, "kernel upgrade failed; rolling back");
      await this.m.stopGuest(name, "halt", 15_000).catch(() => {});
      this.repo.update(row.id, { kernel_id: previous, previous_kernel_id: kernelId });
      this.bus.publish({ type: "instance.upgrade", instance: name, from: to, to: from, status: "rolled-back", reason, timestamp: nowIso() });
      await this.m.startGuest(name, DEFAULT_ACTION_TIMEOUT_S.start * 1000);
      throw new UmldError("upgrade_rolled_back", `kernel '${to}' failed (${reason}); '${name}' runs '${from}' again`, { from, to, reason });
    }
    this.log.info({ instance: name, from, to }, "kernel upgraded");
    this.bus.publish({ type: "instance.upgrade", instance: name, from, to, status: "succeeded", reason: null, timestamp: nowIso() });
    return { from, to };
  }

  /** Upgrades the selected instances in batches; stops at the first batch with a failure. */
  async rollout(
    kernelName: string,
    sel: { instances?: string[]; kernel?: string; image?: string },
    batchSize: number,
    deadlineS: number | undefined,
    wait: boolean,
  ): Promise<{ operation: OperationView; result: RolloutResult | null }> {
    const kernel = this.catalog.kernel(kernelName);
    for (const n of sel.instances ?? []) this.m.row(n); // 404 for an unknown name, before anything happens
    const byKernel = sel.kernel !== undefined ? this.catalog.kernel(sel.kernel).id : undefined;
    const byImage = sel.image !== undefined ? this.catalog.image(sel.image).id : undefined;
    const selected = this.repo
      .all()
      .filter((r) => (sel.instances === undefined || sel.instances.includes(r.name)) && (byKernel === undefined || r.kernel_id === byKernel) && (byImage === undefined || r.image_id === byImage))
      .map((r) => r.name);
    const op = this.operations.begin("kernel.rollout", kernelName);
    const run = (async () => {
      const result: RolloutResult = { kernel: kernel.name, upgraded: [], failed: [], skipped: [] };
      for (let i = 0; i < selected.length; i += batchSize) {
        const batch = selected.slice(i, i + batchSize);
        const settled = await Promise.allSettled(batch.map((n) => this.upgrade(n, kernel.name, deadlineS, undefined, true)));
        settled.forEach((s, k) => {
          if (s.status === "fulfilled") result.upgraded.push(batch[k]!);
          else result.failed.push({ instance: batch[k]!, reason: (s.reason as Error).message });
        });
        if (result.failed.length) {
          result.skipped = selected.slice(i + batchSize);
          throw new UmldError("upgrade_rolled_back", `rollout of '${kernel.name}' stopped: ${result.failed.length} instance(s) failed in batch ${i / batchSize + 1}`, result);
        }
      }
      return result;
    })();
    const finished = run.then(
      (result) => ({ op: this.operations.succeed(op.id, result), result }),
      (e) => ({ op: this.operations.fail(op.id, e), result: (e as UmldError).details as RolloutResult }),
    );
    if (!wait) return { operation: op, result: null };
    const done = await finished;
    if (done.op.status === "failed" && done.op.error) {
      throw new UmldError(done.op.error.code as UmldError["code"], done.op.error.message, { ...asObject(done.op.error.details), operation: done.op.id });
    }
    return { operation: done.op, result: done.result };
  }
}
