import { type Db, withoutFsync } from "./db.js";

export interface OperationRow {
  id: string;
  kind: string;
  target: string;
  status: "running" | "succeeded" | "failed";
  error: string | null;
  result: string | null;
  created_at: string;
  finished_at: string | null;
}

export class OperationsRepo {
  private readonly q;
  constructor(private readonly db: Db) {
    this.q = {
      insert: db.prepare("INSERT INTO operations (id, kind, target, status, error, result, created_at, finished_at) VALUES (@id, @kind, @target, @status, @error, @result, @created_at, @finished_at)"),
      finish: db.prepare("UPDATE operations SET status = @status, error = @error, result = @result, finished_at = @finished_at WHERE id = @id"),
      byId: db.prepare("SELECT * FROM operations WHERE id = ?"),
      // rowid is insertion order; a running operation is never pruned
      prune: db.prepare(
        `DELETE FROM operations WHERE rowid IN (SELECT rowid FROM (SELECT rowid, created_at, status FROM operations ORDER BY rowid LIMIT @batch)
           WHERE status <> 'running' AND (created_at < @before OR rowid <= (SELECT COALESCE(MAX(rowid), 0) FROM operations) - @keep))`,
      ),
      failRunning: db.prepare("UPDATE operations SET status = 'failed', error = ?, finished_at = ? WHERE status = 'running'"),
    };
  }
  insert(row: OperationRow): void {
    withoutFsync(this.db, () => this.q.insert.run(row));
  }
  finish(row: Pick<OperationRow, "id" | "status" | "error" | "result" | "finished_at">): void {
    withoutFsync(this.db, () => this.q.finish.run(row));
  }
  byId(id: string): OperationRow | undefined {
    return this.q.byId.get(id) as OperationRow | undefined;
  }
  /** Deletes up to `batch` of the oldest finished operations created before `before` or beyond the newest `keep`; returns how many. */
  prune(before: string, keep: number, batch: number): number {
    return this.q.prune.run({ before, keep, batch }).changes;
  }
  /** At start: operations left running by a previous daemon process can never finish. */
  failInterrupted(at: string): number {
    return this.q.failRunning.run(JSON.stringify({ code: "internal", message: "interrupted: the daemon stopped while it ran" }), at).changes;
  }
}
