import type { Logger } from "pino";
import type { InstanceState } from "../../protocol/instances.js";
import { UmldError } from "../errors.js";
import type { EventBus } from "../events/bus.js";
import { transition, type LifecycleEvent } from "../lifecycle/transitions.js";
import type { InstancesRepo, StateChange } from "../store/instances-repo.js";
import { nowIso } from "../util/ids.js";
import type { FromWorker } from "../supervisor/rpc.js";

export type Fact = "booted" | "ready" | "exited" | "spawned" | "fatal";
export type FactWait = Promise<{ fact: Fact; m?: FromWorker }>;

/**
 * The lifecycle as recorded: an event is validated against the transition
 * table, persisted (one transaction), then announced; and the facts workers
 * report, which a running action may wait for.
 */
export class Facts {
  private readonly waiters = new Map<string, Set<(fact: Fact, m?: FromWorker) => void>>();

  constructor(
    private readonly repo: InstancesRepo,
    private readonly bus: EventBus,
    private readonly log: Logger,
  ) {}

  /** Validates against the lifecycle table, persists (one transaction), then announces. */
  record(id: string, event: LifecycleEvent, reason: string, extra: Omit<StateChange, "state" | "reason" | "at"> = {}): InstanceState | null {
    const row = this.repo.byId(id);
    if (!row) return null;
    let to: InstanceState;
    try {
      to = transition(row.state, event);
    } catch {
      this.log.warn({ instance: row.name, state: row.state, event }, "ignored lifecycle event not valid in this state");
      return null;
    }
    const at = nowIso();
    this.repo.changeState(id, row.state, { state: to, reason, at, ...extra });
    this.log.info({ instance: row.name, tenant: row.owner, instanceId: id, from: row.state, to, reason }, "state change");
    this.bus.publish({ type: "instance.state", instance: row.name, from: row.state, to, reason, timestamp: at });
    return to;
  }

  /**
   * Waits for a worker fact. Callers often start several waits and give up on
   * the rest when one fails, so a wait never raises an unhandled rejection:
   * only whoever awaits it sees its timeout.
   */
  wait(id: string, match: (f: Fact) => boolean, timeoutMs: number): FactWait {
    const p: FactWait = new Promise((resolve, reject) => {
      const set = this.waiters.get(id) ?? new Set();
      this.waiters.set(id, set);
      const timer = setTimeout(() => {
        set.delete(waiter);
        reject(new UmldError("action_timeout", `timed out after ${Math.round(timeoutMs / 1000)} s`, { timeoutS: timeoutMs / 1000 }));
      }, timeoutMs);
      const waiter = (fact: Fact, m?: FromWorker) => {
        if (!match(fact)) return;
        clearTimeout(timer);
        set.delete(waiter);
        resolve({ fact, m });
      };
      set.add(waiter);
    });
    p.catch(() => {});
    return p;
  }

  notify(id: string, fact: Fact, m?: FromWorker): void {
    for (const w of [...(this.waiters.get(id) ?? [])]) w(fact, m);
  }
}

export function fatalError(m?: FromWorker): UmldError {
  if (m?.t === "fatal") return UmldError.fromPlain(m.error);
  return new UmldError("host_error", "the supervisor could not start the guest");
}

export function bootFailed(name: string, m?: FromWorker): UmldError {
  const exit = m?.t === "exited" ? { code: m.code, signal: m.signal, reason: m.reason } : undefined;
  return new UmldError("boot_failed", `guest '${name}' exited before it was ready${exit ? `: ${exit.reason}` : ""}`, { exit });
}
