import type { EventBus } from "../events/bus.js";
import type { InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import { allocatedBytes } from "../util/fs.js";
import type { InstanceQueries } from "./queries.js";

interface Entry {
  /** bytes each writable file really uses */
  allocated: Map<string, number>;
  problems: string[];
}

const EMPTY: Entry = { allocated: new Map(), problems: [] };

/**
 * What an instance view says about files (bytes allocated, problems with its
 * disks), kept up to date off the read path: refreshed when something
 * happens to the instance, and in the background a few instances at a time
 * (every instance once per `everyMs`, in slices every ~`tickMs` with jitter, so
 * a thousand instances never cost one long turn). A view reads it and never
 * touches the disk.
 */
export class FileFacts {
  private readonly entries = new Map<string, Entry>();
  private readonly due = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private scheduled = false;
  /** the background walk: the instances of this cycle, and how far it got */
  private cycle: string[] = [];
  private cursor = 0;
  /** the daemon stops: nothing reads the database any more */
  private stopped = false;

  constructor(
    private readonly repo: InstancesRepo,
    private readonly queries: InstanceQueries,
    bus: EventBus,
    private readonly everyMs = 15_000,
    private readonly tickMs = 500,
  ) {
    bus.on("event", (e: { type: string; instance?: unknown }) => {
      if (typeof e.instance === "string" && e.type.startsWith("instance.")) this.soon(e.instance);
    });
  }

  /** Every instance's facts read once (daemon start, before it answers), then the background walk. */
  start(): void {
    for (const r of this.repo.all()) this.refresh(r);
    this.next();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.stopped = true;
  }

  /** The instance's cached facts; one not read yet (created a moment ago) is read right after this turn. */
  of(r: InstanceRow): { allocated(path: string): number; problems: string[] } {
    const e = this.entries.get(r.id) ?? this.missing(r);
    return { allocated: (p) => e.allocated.get(p) ?? 0, problems: e.problems };
  }

  /** Bytes the instance's writable files use, from the cache (metrics). */
  allocatedTotal(r: InstanceRow): number {
    const e = this.entries.get(r.id) ?? this.missing(r);
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

  private missing(r: InstanceRow): Entry {
    this.soon(r.name);
    return EMPTY;
  }

  /** One slice of the background walk, then the next one after ~tickMs (±20 %: daemons and timers do not fall in step). */
  private next(): void {
    this.timer = setTimeout(
      () => {
        if (this.cursor >= this.cycle.length) this.newCycle();
        const slice = Math.max(1, Math.ceil((this.cycle.length * this.tickMs) / this.everyMs));
        for (const id of this.cycle.slice(this.cursor, this.cursor + slice)) {
          const r = this.repo.byId(id);
          if (r) this.refresh(r);
        }
        this.cursor += slice;
        this.next();
      },
      this.tickMs * (0.8 + Math.random() * 0.4),
    );
    this.timer.unref();
  }

  private newCycle(): void {
    const all = this.repo.all();
    const live = new Set(all.map((r) => r.id));
    for (const id of this.entries.keys()) if (!live.has(id)) this.entries.delete(id); // deleted instances
    this.cycle = all.map((r) => r.id);
    this.cursor = 0;
  }

  /** An event named the instance: refresh it once the current turn is over (many events, one refresh). */
  private soon(name: string): void {
    this.due.add(name);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.stopped) return;
      const names = [...this.due];
      this.due.clear();
      for (const n of names) {
        const r = this.repo.byName(n);
        if (r) this.refresh(r);
      }
    });
  }
}
