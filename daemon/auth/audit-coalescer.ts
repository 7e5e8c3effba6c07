import type { AuditRow } from "../../core/store/tenants-repo.js";

export type AuditDraft = Omit<AuditRow, "at" | "seq" | "count">;

/** Windows beyond this many keys share one: ever new addresses cannot grow the map without bound. */
const MAX_KEYS = 10_000;

/**
 * Audit rows for refusals that come in floods (bad tokens, rate limits): per
 * key (a remote address or a token) the first refusal of a window is written
 * at once, the rest of the window only as one row carrying their count when
 * the window ends. A flood costs at most two rows per key per window instead
 * of one database write (and log line) per request.
 */
export class AuditCoalescer {
  private windows = new Map<string, { until: number; last: AuditDraft | null; suppressed: number }>();

  constructor(
    private readonly write: (row: AuditDraft & { count: number }) => void,
    private readonly windowMs = 60_000,
  ) {}

  note(key: string, entry: AuditDraft, now = Date.now()): void {
    if (!this.windows.has(key) && this.windows.size >= MAX_KEYS) {
      this.flush(now);
      if (this.windows.size >= MAX_KEYS) key = "*overflow*";
    }
    const w = this.windows.get(key);
    if (w && now < w.until) {
      w.last = entry;
      w.suppressed++;
      return;
    }
    if (w) this.end(w);
    this.write({ ...entry, count: 1 });
    this.windows.set(key, { until: now + this.windowMs, last: null, suppressed: 0 });
  }

  /** Writes the summary row of every window that ended (the daemon calls this on a timer, and at close with `Infinity`). */
  flush(now = Date.now()): void {
    for (const [k, w] of this.windows) {
      if (w.until > now) continue;
      this.end(w);
      this.windows.delete(k);
    }
  }

  private end(w: { last: AuditDraft | null; suppressed: number }): void {
    if (w.last && w.suppressed > 0) this.write({ ...w.last, count: w.suppressed });
  }
}
