import type { Logger } from "pino";
import type { EventBus } from "../events/bus.js";
import { isActive } from "../lifecycle/transitions.js";
import type { InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import { nowIso } from "../util/ids.js";
import type { InstanceAction } from "../../protocol/instances.js";
import type { ActOptions } from "./commands.js";

/** A crash within this long of its start counts towards a crash loop. */
export const CRASH_WINDOW_S = 60;
/** Restarts in a row (each down within the window) before the instance is flagged and left alone. */
export const MAX_RESTARTS = 5;
/** Backoff before restart N: 1, 2, 4, 8, 16 s …, at most this. */
export const MAX_BACKOFF_S = 60;

export interface PolicyHost {
  row(name: string): InstanceRow;
  hasGuest(id: string): boolean;
  act(name: string, action: InstanceAction, o: ActOptions): Promise<unknown>;
}

export function backoffS(attempt: number): number {
  return Math.min(MAX_BACKOFF_S, 2 ** Math.max(0, attempt - 1));
}

/**
 * What umld does without being asked: restart crashed guests per policy with
 * exponential backoff (a crash loop is stopped and flagged), react to hangs,
 * start guests marked autostart, and shut every guest down for a host shutdown.
 */
export class Policies {
  private timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly m: PolicyHost,
    private readonly repo: InstancesRepo,
    private readonly bus: EventBus,
    private readonly log: Logger,
  ) {}

  /** After a process ended: restart per policy, or flag a crash loop. `upS` is how long it ran. */
  afterExit(id: string, requested: boolean, reason: string, upS: number): void {
    const row = this.repo.byId(id);
    if (!row || row.flag || this.closed) return;
    const crashed = !requested;
    const wanted = (row.restart_policy === "on-failure" && crashed) || (row.restart_policy === "always" && (crashed || reason === "guest powered off"));
    if (!wanted) return;
    const attempt = upS < CRASH_WINDOW_S ? row.crash_streak + 1 : 1;
    if (attempt > MAX_RESTARTS) {
      const flag = `crash-loop: ${row.crash_streak} restarts, each down within ${CRASH_WINDOW_S} s; last: ${reason}`;
      this.repo.update(id, { flag });
      this.log.error({ instance: row.name, flag }, "instance flagged: restarts stopped");
      this.bus.publish({ type: "instance.flagged", instance: row.name, flag, timestamp: nowIso() });
      return;
    }
    this.repo.update(id, { crash_streak: attempt });
    const delayS = backoffS(attempt);
    this.log.warn({ instance: row.name, attempt, delayS, reason }, "restarting per policy");
    this.bus.publish({ type: "instance.restart", instance: row.name, attempt, delayS, reason, timestamp: nowIso() });
    this.later(delayS, () => {
      const r = this.repo.byId(id);
      if (!r || r.flag || isActive(r.state) || this.m.hasGuest(id)) return;
      this.m.act(r.name, "start", { wait: true, byPolicy: true }).catch((e: Error) => this.log.warn({ instance: r.name, err: e.message }, "policy restart failed"));
    });
  }

  /** A hang was detected: always reported; reset (halt + start) if the instance asks for it. */
  onHang(id: string, evidence: { sinceS: number; probe: string; source: "probe" | "watchdog" }): void {
    const row = this.repo.byId(id);
    if (!row) return;
    const reset = row.on_hang === "reset";
    this.log.error({ instance: row.name, ...evidence, reset }, "guest hung");
    this.bus.publish({ type: "instance.hang", instance: row.name, evidence, action: reset ? "reset" : "reported", timestamp: nowIso() });
    if (!reset) return;
    void (async () => {
      await this.m.act(row.name, "halt", { wait: true }).catch(() => {});
      await this.m.act(row.name, "start", { wait: true }).catch((e: Error) => this.log.error({ instance: row.name, err: e.message }, "reset after hang failed"));
    })();
  }

  /** At daemon start: guests marked autostart, in order, each after its delay; flagged ones stay down. */
  autostartAll(all: readonly InstanceRow[]): string[] {
    const due = all
      .filter((r) => r.autostart === 1 && !r.flag && (r.state === "stopped" || r.state === "crashed"))
      .sort((a, b) => a.autostart_order - b.autostart_order || a.name.localeCompare(b.name));
    void (async () => {
      for (const r of due) {
        if (this.closed) return;
        if (r.autostart_delay_s > 0) await new Promise((res) => this.later(r.autostart_delay_s, () => res(undefined)));
        await this.m.act(r.name, "start", { wait: true }).catch((e: Error) => this.log.error({ instance: r.name, err: e.message }, "autostart failed"));
      }
    })();
    return due.map((r) => r.name);
  }

  /** Host shutdown: every guest gets a graceful shutdown within `deadlineS`, then the rest are halted. */
  async shutdownAll(rows: readonly InstanceRow[], deadlineS: number): Promise<{ shutDown: string[]; halted: string[] }> {
    this.closed = true;
    this.cancel();
    const active = rows.filter((r) => this.m.hasGuest(r.id));
    const shutDown: string[] = [];
    const halted: string[] = [];
    await Promise.all(
      active.map(async (r) => {
        this.repo.update(r.id, { stopped_by_host: 1 });
        try {
          await this.m.act(r.name, "shutdown", { wait: true, timeoutS: deadlineS });
          const after = this.repo.byId(r.id);
          (after?.last_exit_reason === "shut down" ? shutDown : halted).push(r.name);
        } catch {
          await this.m.act(r.name, "halt", { wait: true }).catch(() => {});
          halted.push(r.name);
        }
      }),
    );
    return { shutDown, halted };
  }

  cancel(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private later(seconds: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, seconds * 1000);
    t.unref();
    this.timers.add(t);
  }
}
