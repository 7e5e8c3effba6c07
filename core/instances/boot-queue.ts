import { availableParallelism } from "node:os";
import { UmldError } from "../errors.js";

/** Boots at once by default: one per CPU, at least 2 (a boot is mostly CPU: the kernel, then the guest's init). */
export function defaultBootConcurrency(): number {
  return Math.max(2, availableParallelism());
}

interface Waiting {
  id: string;
  /** the start's operation, so a cancel can wait for it to end */
  operation: string;
  go(): void;
  stop(e: UmldError): void;
}

/**
 * Starts wait here for a boot slot: at most `limit` guests boot at once, the
 * rest in arrival order, so hundreds of starts (a bulk action, autostart)
 * leave the host's CPUs to the API and to the guests already up. A queued
 * start holds its instance's operation lock like a running one; a halt,
 * shutdown or delete cancels it before it boots.
 */
export class BootQueue {
  private running = 0;
  /** by instance, in arrival order (a Map keeps insertion order) */
  private readonly waiting = new Map<string, Waiting>();

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`boot concurrency must be a positive integer, got ${limit}`);
  }

  /** Waits for a slot (calling `queued` first when it must wait); the answer frees it (idempotent). */
  async enter(id: string, operation: string, queued: () => void): Promise<() => void> {
    if (this.running >= this.limit || this.waiting.size > 0) {
      queued();
      await new Promise<void>((go, stop) => this.waiting.set(id, { id, operation, go, stop })); // the slot is handed over
    } else this.running++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const next = this.waiting.values().next().value as Waiting | undefined;
      if (next) {
        this.waiting.delete(next.id);
        next.go();
      } else this.running--;
    };
  }

  /** The queued start's operation id, if the instance waits here. */
  queuedOperation(id: string): string | null {
    return this.waiting.get(id)?.operation ?? null;
  }

  /** Removes the instance's queued start, failing it with `why`; its operation id (null: nothing was queued). */
  cancel(id: string, why: UmldError): string | null {
    const w = this.waiting.get(id);
    if (!w) return null;
    this.waiting.delete(id);
    w.stop(why);
    return w.operation;
  }

  /** Daemon stop: nothing queued boots any more. */
  cancelAll(): void {
    const all = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of all) w.stop(new UmldError("operation_cancelled", "the daemon is stopping: the queued start did not run", { reason: "daemon stopping" }));
  }

  stats(): { limit: number; booting: number; queued: number } {
    return { limit: this.limit, booting: this.running, queued: this.waiting.size };
  }
}
