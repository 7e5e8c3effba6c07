import { EventEmitter } from "node:events";
import type { Event, EventDraft } from "../../protocol/events.js";
import type { EventJournal } from "./journal.js";

/**
 * The in-process typed event bus: feeds the events WebSocket, the logs and
 * the tests. Each event gets its seq here: from the journal when there is one
 * (persisted first, so a replay can always return it), else counted in memory.
 */
export class EventBus extends EventEmitter<{ event: [Event] }> {
  private counter = 0;

  constructor(
    private readonly journal: EventJournal | null = null,
    private readonly onJournalError: (e: unknown) => void = () => {},
  ) {
    super();
    this.setMaxListeners(0);
    this.counter = journal?.latest() ?? 0;
  }

  publish(draft: EventDraft): Event {
    let seq: number;
    try {
      seq = this.journal ? this.journal.append(draft) : this.counter + 1;
    } catch (e) {
      // a full disk must not stop the daemon: the event still goes out live, it just cannot be replayed
      this.onJournalError(e);
      seq = this.counter + 1;
    }
    this.counter = Math.max(this.counter, seq);
    const e = { seq, ...draft } as Event;
    this.emit("event", e);
    return e;
  }

  /** The last seq published (0: none yet). */
  latest(): number {
    return this.counter;
  }
}
