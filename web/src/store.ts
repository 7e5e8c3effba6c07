import { ApiError } from "../../client/index.js";
import type { Event } from "../../protocol/events.js";
import type { InstanceView, MemoryView } from "../../protocol/instances.js";
import type { UsageSample } from "../../protocol/usage.js";
import type { EventStream } from "./events.js";
import type { Session } from "./session.js";

/** Events that change what an instance view shows. */
const REFRESHING = new Set(["instance.created", "instance.state", "instance.ready", "instance.memory", "instance.disk", "instance.upgrade", "instance.restart", "instance.flagged", "instance.hang"]);
/** Guest memory asks the guest (mconsole): a few at a time, never a burst. */
const MEMORY_CONCURRENCY = 3;
/** The daemon's sampler reads every guest every few seconds; the page asks for all of them at once, no faster than this. */
const USAGE_EVERY_MS = 5000;

/**
 * The instances as the token sees them, kept live by the event stream: the
 * list is loaded once (and after a reconnect), then an event about an
 * instance reloads that one instance (coalesced), and its memory figures when
 * a page showed them. CPU and memory use of every guest come from the
 * daemon's sampler (GET /v1/usage, one request for all, every 5 s while a
 * guest runs and the tab is visible). Views subscribe and re-render.
 */
export class InstancesStore {
  readonly items = new Map<string, InstanceView>();
  /** when each view was fetched (performance.now()), to count uptime on locally */
  readonly fetchedAt = new Map<string, number>();
  readonly memory = new Map<string, MemoryView | null>();
  /** the sampler's latest reading of each instance (null: none yet) */
  readonly usage = new Map<string, UsageSample | null>();
  private usageTimer: ReturnType<typeof setInterval> | null = null;
  loaded = false;
  error: unknown = null;
  private subs = new Set<() => void>();
  private pending = new Map<string, ReturnType<typeof setTimeout>>();
  private memoryQueue: string[] = [];
  private memoryRunning = 0;

  constructor(
    private readonly session: Session,
    stream: EventStream,
  ) {
    stream.on((e) => this.onEvent(e));
    stream.onResync(() => void this.load());
  }

  readonly subscribe = (fn: () => void): (() => void) => {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  };

  async load(): Promise<void> {
    try {
      const { instances } = await this.session.client.call("listInstances");
      this.items.clear();
      const now = performance.now();
      for (const i of instances) {
        this.items.set(i.name, i);
        this.fetchedAt.set(i.name, now);
      }
      this.loaded = true;
      this.error = null;
      void this.loadUsage();
      this.usageTimer ??= setInterval(() => {
        if (document.visibilityState === "visible" && [...this.items.values()].some((i) => i.pid !== null)) void this.loadUsage();
      }, USAGE_EVERY_MS);
    } catch (e) {
      this.error = e;
    }
    this.notify();
  }

  /** Stops asking for usage (signed out). */
  close(): void {
    if (this.usageTimer) clearInterval(this.usageTimer);
    this.usageTimer = null;
  }

  private async loadUsage(): Promise<void> {
    try {
      const { instances } = await this.session.client.call("listUsage");
      this.usage.clear();
      for (const u of instances) this.usage.set(u.name, u.sample);
      this.notify();
    } catch {
      // figures only: the list stays as it is
    }
  }

  /** Reloads one instance now (after an action of ours, say). */
  async refresh(name: string): Promise<void> {
    try {
      const i = await this.session.client.call("getInstance", { params: { name } });
      this.items.set(name, i);
      this.fetchedAt.set(name, performance.now());
      if (i.pid === null) this.memory.delete(name);
    } catch (e) {
      if (!ApiError.is(e, "instance_not_found")) throw e;
      this.items.delete(name);
    }
    this.notify();
  }

  /** Asks for the memory figures of a running instance (queued). */
  queueMemory(name: string): void {
    if (!this.memoryQueue.includes(name)) this.memoryQueue.push(name);
    this.pumpMemory();
  }

  private pumpMemory(): void {
    while (this.memoryRunning < MEMORY_CONCURRENCY && this.memoryQueue.length) {
      const name = this.memoryQueue.shift()!;
      this.memoryRunning++;
      this.session.client
        .call("getMemory", { params: { name } })
        .then(
          (m) => this.memory.set(name, m),
          () => this.memory.set(name, null),
        )
        .finally(() => {
          this.memoryRunning--;
          this.notify();
          this.pumpMemory();
        });
    }
  }

  private onEvent(e: Event): void {
    if (e.type === "instance.deleted") {
      this.items.delete(e.instance);
      this.memory.delete(e.instance);
      this.notify();
      return;
    }
    const name = e.type === "operation" ? (e.operation.status !== "running" ? e.operation.target : null) : REFRESHING.has(e.type) ? e.instance : null;
    if (name === null || (e.type === "operation" && !this.items.has(name))) return;
    const memoryToo = e.type === "instance.memory" || e.type === "instance.ready" || e.type === "instance.state";
    const old = this.pending.get(name);
    if (old) clearTimeout(old);
    this.pending.set(
      name,
      setTimeout(() => {
        this.pending.delete(name);
        this.refresh(name).then(
          () => {
            if (memoryToo && this.memory.has(name) && this.items.get(name)?.pid != null) this.queueMemory(name);
          },
          () => {},
        );
      }, 150),
    );
  }

  private notify(): void {
    for (const fn of this.subs) fn();
  }
}
