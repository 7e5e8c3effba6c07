import { UmldError } from "../errors.js";

/**
 * The one place that says what is busy (Incus's operationlock): an instance
 * runs one action at a time, named, from the moment it is accepted until it
 * is done. A halt may overtake (a shutdown waiting on a stuck guest must be
 * stoppable); everything else is refused with instance_busy.
 */
export class OpLock {
  private readonly held = new Map<string, string>();

  busyWith(id: string): string | null {
    return this.held.get(id) ?? null;
  }

  /** Takes the lock for `action` or throws instance_busy; returns the release (idempotent). */
  take(id: string, action: string, name = id): () => void {
    const busy = this.held.get(id);
    if (busy !== undefined) {
      if (action === "halt") return () => {}; // overtakes: the running action keeps the lock and ends with the guest
      throw new UmldError("instance_busy", `'${busy}' is still running on '${name}'`, { busy, action });
    }
    this.held.set(id, action);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (this.held.get(id) === action) this.held.delete(id);
    };
  }
}
