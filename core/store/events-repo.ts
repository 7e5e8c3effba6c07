import { type Db, withoutFsync } from "./db.js";

export interface EventRow {
  seq: number;
  at: string;
  type: string;
  subject: string | null;
  body: string;
}

/** The type of an emptied row (a deleted tenant's event): kept for its seq, never replayed. */
const FORGOTTEN = "forgotten";

export interface EventFilter {
  subjectPrefix?: string | null;
  types?: readonly string[] | null;
}

/** [from, to): the strings starting with a non-empty prefix, as a range an index or a comparison can use. */
export function prefixRange(prefix: string): { from: string; to: string } {
  if (!prefix) throw new Error("an empty subject prefix names everything");
  return { from: prefix, to: prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1) };
}

/** The events table (migration 0015): append, page forward from a seq, prune the oldest. */
export class EventsRepo {
  private readonly q;

  constructor(private readonly db: Db) {
    this.q = {
      append: db.prepare("INSERT INTO events (at, type, subject, body) VALUES (@at, @type, @subject, @body)"),
      // filtered here, not in JS: a replay for one tenant or one type never parses everyone's events
      after: db.prepare(
        `SELECT seq, at, type, subject, body FROM events WHERE seq > @since AND type <> '${FORGOTTEN}'
           AND (@from IS NULL OR (subject >= @from AND subject < @to))
           AND (@types IS NULL OR type IN (SELECT value FROM json_each(@types)))
         ORDER BY seq LIMIT @limit`,
      ),
      // emptied, not deleted: the oldest seq kept is what tells a too-old since (410), so rows leave only by retention
      forgetSubjects: db.prepare(`UPDATE events SET type = '${FORGOTTEN}', subject = NULL, body = '{}' WHERE subject >= @from AND subject < @to`),
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
    return Number(withoutFsync(this.db, () => this.q.append.run(r)).lastInsertRowid);
  }

  /** Up to `limit` rows after `seq`; only subjects starting with `prefix` and only `types` when given. */
  after(seq: number, limit: number, filter: EventFilter = {}): EventRow[] {
    const range = filter.subjectPrefix ? prefixRange(filter.subjectPrefix) : { from: null, to: null };
    return this.q.after.all({ since: seq, limit, ...range, types: filter.types ? JSON.stringify(filter.types) : null }) as EventRow[];
  }

  /** Empties every event about a subject starting with `prefix` (a deleted tenant's): no replay sends them again. */
  forget(prefix: string): number {
    return this.q.forgetSubjects.run(prefixRange(prefix)).changes;
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
