import type { EventBus } from "../events/bus.js";
import type { InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import { allocatedBytes } from "../util/fs.js";
import type { InstanceQueries } from "./queries.js";

interface Entry {
  /** bytes each writable file really uses */
  allocated: Map<string, number>;
  problems: string[];
}

/**
 * What an instance view says about files (bytes allocated, problems with its
 * disks), kept up to date off the read path: refreshed when something
 * happens to the instance and every `everyMs` for all. A view reads it and
 * never touches the disk.
 */
export class FileFacts {
  private readonly entries = new Map<string, Entry>();
  private readonly due = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private scheduled = false;

  constructor(
    private readonly repo: InstancesRepo,
    private readonly queries: InstanceQueries,
    bus: EventBus,
    private readonly everyMs = 10_000,
  ) {
    bus.on("event", (e: { type: string; instance?: unknown }) => {
      if (typeof e.instance === "string" && e.type.startsWith("instance.")) this.soon(e.instance);
    });
  }

  start(): void {
    this.timer = setInterval(() => {
      const all = this.repo.all();
      for (const r of all) this.refresh(r);
      const live = new Set(all.map((r) => r.id));
      for (const id of this.entries.keys()) if (!live.has(id)) this.entries.delete(id); // deleted instances
    }, this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The instance's cached facts (computed now only the first time it is asked about). */
  of(r: InstanceRow): { allocated(path: string): number; problems: string[] } {
    const e = this.entries.get(r.id) ?? this.refresh(r);
    return { allocated: (p) => e.allocated.get(p) ?? 0, problems: e.problems };
  }

  /** Bytes the instance's writable files use, from the cache (metrics). */
  allocatedTotal(r: InstanceRow): number {
    const e = this.entries.get(r.id) ?? this.refresh(r);
    let n = 0;
    for (const v of e.allocated.values()) n += v;
    return n;
  }

  /** Refreshes an instance's facts now (after a change made by a command). */
  refresh(r: InstanceRow): Entry {
    const e: Entry = { allocated: new Map(this.queries.writableFiles(r).map((f) => [f.path, allocatedBytes(f.path)])), problems: this.queries.problems(r) };
    this.entries.set(r.id, e);
    return e;
  }

  /** An event named the instance: refresh it once the current turn is over (many events, one refresh). */
  private soon(name: string): void {
    this.due.add(name);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const names = [...this.due];
      this.due.clear();
      for (const n of names) {
        const r = this.repo.byName(n);
        if (r) this.refresh(r);
      }
    });
  }
}
