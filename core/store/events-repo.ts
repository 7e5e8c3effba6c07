import type { Db } from "./db.js";

export interface EventRow {
  seq: number;
  at: string;
  type: string;
  subject: string | null;
  body: string;
}

/** The events table (migration 0015): append, page forward from a seq, prune the oldest. */
export class EventsRepo {
  private readonly q;

  constructor(db: Db) {
    this.q = {
      append: db.prepare("INSERT INTO events (at, type, subject, body) VALUES (@at, @type, @subject, @body)"),
      after: db.prepare("SELECT seq, at, type, subject, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?"),
      oldest: db.prepare("SELECT MIN(seq) AS seq FROM events"),
      // the last seq ever issued, also when every row was pruned (AUTOINCREMENT keeps it)
      issued: db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'"),
      prune: db.prepare(
        `DELETE FROM events WHERE seq IN (SELECT seq FROM (SELECT seq, at FROM events ORDER BY seq LIMIT @batch)
           WHERE at < @before OR seq <= (SELECT COALESCE(MAX(seq), 0) FROM events) - @keep)`,
      ),
    };
  }

  append(r: Omit<EventRow, "seq">): number {
    return Number(this.q.append.run(r).lastInsertRowid);
  }

  after(seq: number, limit: number): EventRow[] {
    return this.q.after.all(seq, limit) as EventRow[];
  }

  oldest(): number | null {
    return (this.q.oldest.get() as { seq: number | null }).seq;
  }

  lastIssued(): number {
    return (this.q.issued.get() as { seq: number } | undefined)?.seq ?? 0;
  }

  prune(before: string, keep: number, batch: number): number {
    return this.q.prune.run({ before, keep, batch }).changes;
  }
}
