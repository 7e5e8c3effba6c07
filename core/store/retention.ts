import type { Logger } from "pino";

export interface RetentionPolicy {
  /** Rows older than this many days go. */
  days: number;
  /** At most this many of the newest rows are kept per table. */
  maxRows: number;
}
export const DEFAULT_RETENTION: RetentionPolicy = { days: 90, maxRows: 500_000 };

/** One table's pruning: deletes up to `batch` of its oldest rows older than `before` or beyond the newest `keep`. */
export type Prune = (before: string, keep: number, batch: number) => number;

const BATCH = 2000;
const EVERY_MS = 10 * 60_000;

/**
 * Keeps the history tables (audit, state_history, operations) bounded. Runs
 * on the main thread, the one SQLite writer, shortly after start and then
 * every 10 minutes, in small batches with the event loop free between them,
 * so even a first run over years of rows never stalls requests.
 */
export class Retention {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private stopped = false;

  constructor(
    private readonly tables: Record<string, Prune>,
    private readonly policy: RetentionPolicy,
    private readonly log?: Logger,
  ) {}

  start(firstAfterMs = 30_000): void {
    const tick = () => void this.runOnce().catch((err: unknown) => this.log?.error({ err }, "retention failed"));
    this.timer = setTimeout(() => {
      tick();
      this.timer = setInterval(tick, EVERY_MS);
      this.timer.unref();
    }, firstAfterMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** One pass over every table; resolves with the rows deleted per table. */
  async runOnce(now = Date.now()): Promise<Record<string, number>> {
    if (this.running) return {};
    this.running = true;
    const before = new Date(now - this.policy.days * 86_400_000).toISOString();
    const deleted: Record<string, number> = {};
    try {
      for (const [name, prune] of Object.entries(this.tables)) {
        deleted[name] = 0;
        for (;;) {
          if (this.stopped) return deleted;
          const n = prune(before, this.policy.maxRows, BATCH);
          deleted[name] += n;
          if (n === 0) break;
          await new Promise((r) => setImmediate(r));
        }
      }
    } finally {
      this.running = false;
    }
    if (Object.values(deleted).some((n) => n > 0)) this.log?.info({ deleted, days: this.policy.days, maxRows: this.policy.maxRows }, "retention pruned history");
    return deleted;
  }
}
