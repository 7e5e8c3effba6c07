import type { Etcd, KeyValue, WatchEvent } from "./etcd.js";

export type MirrorListener = (key: string, kv: KeyValue | null) => void;

/**
 * Every key under a prefix, kept in memory: read once, then watched. When
 * the watch breaks (etcd restarted, history compacted, a network blip) the
 * prefix is read again after a pause, the differences are announced as
 * changes, and a new watch starts where the read ended: listeners see every
 * change, and after a break at least the final state of each key.
 */
export class PrefixMirror {
  readonly kvs = new Map<string, KeyValue>();
  revision = 0;
  private readonly listeners = new Set<MirrorListener>();
  private watcher: { close(): void } | null = null;
  private closed = false;
  private retry: NodeJS.Timeout | null = null;

  constructor(
    private readonly etcd: Etcd,
    readonly prefix: string,
    private readonly onError: (e: Error) => void = () => {},
    private readonly retryMs = 500,
  ) {}

  /** Reads the prefix and starts watching; resolves after the first read (rejects if etcd is unreachable). */
  async start(): Promise<void> {
    await this.reload();
    this.watchFrom(this.revision + 1);
  }

  on(listener: MirrorListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(key: string): KeyValue | undefined {
    return this.kvs.get(key);
  }

  values(): KeyValue[] {
    return [...this.kvs.values()];
  }

  /** Applies what the caller itself just wrote (its txn answer), so its next read sees it before the watch brings it. */
  note(key: string, kv: KeyValue | null): void {
    const cur = this.kvs.get(key);
    if (kv && cur && cur.modRevision >= kv.modRevision) return;
    this.apply(key, kv);
  }

  close(): void {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.watcher?.close();
  }

  private apply(key: string, kv: KeyValue | null): void {
    if (kv) this.kvs.set(key, kv);
    else if (!this.kvs.delete(key)) return;
    for (const l of this.listeners) l(key, kv);
  }

  private async reload(): Promise<void> {
    const { kvs, revision } = await this.etcd.range(this.prefix);
    const seen = new Set<string>();
    for (const kv of kvs) {
      seen.add(kv.key);
      const cur = this.kvs.get(kv.key);
      if (!cur || cur.modRevision !== kv.modRevision) this.apply(kv.key, kv);
    }
    for (const key of [...this.kvs.keys()]) if (!seen.has(key)) this.apply(key, null);
    this.revision = revision;
  }

  private watchFrom(rev: number): void {
    if (this.closed) return;
    this.watcher = this.etcd.watch(
      this.prefix,
      rev,
      (events: WatchEvent[], revision) => {
        for (const e of events) {
          const cur = this.kvs.get(e.kv.key);
          if (cur && cur.modRevision > e.kv.modRevision) continue; // older than what note() applied
          this.apply(e.kv.key, e.type === "put" ? e.kv : null);
        }
        this.revision = Math.max(this.revision, revision);
      },
      (reason) => {
        if (this.closed) return;
        this.onError(reason);
        this.retry = setTimeout(() => {
          this.retry = null;
          this.reload().then(
            () => this.watchFrom(this.revision + 1),
            (e: unknown) => {
              this.onError(e instanceof Error ? e : new Error(String(e)));
              this.watchFrom(this.revision + 1); // fails again at once if etcd is still away, and retries
            },
          );
        }, this.retryMs);
        this.retry.unref();
      },
    );
  }
}
