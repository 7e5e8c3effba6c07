import type { OperationView } from "../../protocol/operations.js";
import type { EventBus } from "../events/bus.js";
import { UmldError, type PlainError } from "../errors.js";
import type { OperationsRepo, OperationRow } from "../store/operations-repo.js";
import { newId, nowIso } from "../util/ids.js";

/** Long actions get an id, are persisted, announce their end as an event, and can be awaited. */
type Progress = NonNullable<OperationView["progress"]>;

/** Progress events of one operation are sent at most this often. */
const PROGRESS_EVERY_MS = 200;

export class Operations {
  private waiters = new Map<string, Array<(op: OperationView) => void>>();
  private progressOf = new Map<string, { p: Progress; sentAt: number }>();

  constructor(
    private readonly repo: OperationsRepo,
    private readonly bus: EventBus,
  ) {}

  begin(kind: string, target: string): OperationView {
    const row: OperationRow = { id: newId("op-"), kind, target, status: "running", error: null, result: null, created_at: nowIso(), finished_at: null };
    this.repo.insert(row);
    const op = toView(row);
    this.bus.publish({ type: "operation", operation: op, timestamp: row.created_at });
    return op;
  }

  succeed(id: string, result: unknown = null): OperationView {
    return this.finish(id, null, result);
  }

  fail(id: string, e: unknown): OperationView {
    const err: PlainError = e instanceof UmldError ? e.toPlain() : { code: "internal", message: e instanceof Error ? e.message : String(e) };
    return this.finish(id, err);
  }

  get(id: string): OperationView {
    const row = this.repo.byId(id);
    if (!row) throw new UmldError("operation_not_found", `no operation '${id}'`, { id });
    return { ...toView(row), progress: this.progressOf.get(id)?.p ?? null };
  }

  /** Records progress; announces it as an operation event, throttled (the last one always goes out with the end). */
  progress(id: string, p: Progress): void {
    const prev = this.progressOf.get(id);
    const now = Date.now();
    const send = !prev || now - prev.sentAt >= PROGRESS_EVERY_MS || (p.total !== null && p.done >= p.total);
    this.progressOf.set(id, { p, sentAt: send ? now : (prev?.sentAt ?? now) });
    if (send) this.bus.publish({ type: "operation", operation: this.get(id), timestamp: new Date(now).toISOString() });
  }

  wait(id: string): Promise<OperationView> {
    const op = this.get(id);
    if (op.status !== "running") return Promise.resolve(op);
    return new Promise((resolve) => {
      const list = this.waiters.get(id) ?? [];
      list.push(resolve);
      this.waiters.set(id, list);
    });
  }

  private finish(id: string, error: PlainError | null, result: unknown = null): OperationView {
    const finished_at = nowIso();
    this.repo.finish({ id, status: error ? "failed" : "succeeded", error: error ? JSON.stringify(error) : null, result: result === null ? null : JSON.stringify(result), finished_at });
    const op = this.get(id);
    this.bus.publish({ type: "operation", operation: op, timestamp: finished_at });
    for (const w of this.waiters.get(id) ?? []) w(op);
    this.waiters.delete(id);
    this.progressOf.delete(id);
    return op;
  }
}

function toView(r: OperationRow): OperationView {
  return {
    id: r.id,
    kind: r.kind,
    target: r.target,
    status: r.status,
    error: r.error ? (JSON.parse(r.error) as OperationView["error"]) : null,
    result: r.result ? (JSON.parse(r.result) as unknown) : null,
    progress: null,
    createdAt: r.created_at,
    finishedAt: r.finished_at,
  };
}
