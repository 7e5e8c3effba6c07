import type { Logger } from "pino";
import type { SupervisorHost } from "../supervisor/host.js";

/** What the main thread knows of a guest while a worker supervises it. */
export interface Runtime {
  host: SupervisorHost;
  log: Logger;
  /** what the running guest's jail holds beyond its boot (paths inside it), so a hot-plug adds a thing once */
  jail: Set<string>;
  /** the guest's cgroup under umld's parent (null: none); an adopted guest's is where it really is */
  cgroup: string | null;
}

/** The one map of live workers: instance id → its runtime. */
export class Registry {
  private readonly runtimes = new Map<string, Runtime>();

  get(id: string): Runtime | undefined {
    return this.runtimes.get(id);
  }

  has(id: string): boolean {
    return this.runtimes.has(id);
  }

  /** Ids of every supervised guest. */
  ids(): string[] {
    return [...this.runtimes.keys()];
  }

  set(id: string, rt: Runtime): void {
    this.runtimes.set(id, rt);
  }

  /** Forgets the runtime, only if it is still this one (a newer worker may have taken over). */
  drop(id: string, rt?: Runtime): boolean {
    if (rt && this.runtimes.get(id) !== rt) return false;
    return this.runtimes.delete(id);
  }

  /** Every runtime, forgotten at once (daemon stop: released, not died). */
  takeAll(): Runtime[] {
    const all = [...this.runtimes.values()];
    this.runtimes.clear();
    return all;
  }
}
