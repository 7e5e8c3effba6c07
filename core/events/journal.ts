import type { Event, EventDraft } from "../../protocol/events.js";
import { UmldError } from "../errors.js";
import type { EventFilter, EventsRepo } from "../store/events-repo.js";

/** Events read per page of a replay. */
export const REPLAY_PAGE = 500;

/** The instance or operation target an event is about (stored name), or null. */
export function subjectOf(e: EventDraft | Event): string | null {
  if ("instance" in e) return e.instance;
  if (e.type === "operation") return e.operation.target;
  return null;
}

/**
 * The bus's memory: each event is written (one row, the seq is its rowid)
 * before anyone sees it, so a seq a client was sent is always either in the
 * journal or pruned, never lost to a crash and reissued. Bounded by the
 * Retention pass (days and rows, docs/operations.md).
 */
export class EventJournal {
  constructor(private readonly repo: EventsRepo) {}

  /** Persists the event; returns its seq. */
  append(e: EventDraft): number {
    return this.repo.append({ at: e.timestamp, type: e.type, subject: subjectOf(e), body: JSON.stringify(e) });
  }

  /** The last seq issued (0: none yet). */
  latest(): number {
    return this.repo.lastIssued();
  }

  /**
   * Throws events_expired unless every event after `since` is still kept:
   * the oldest kept is at most since+1, and since is not beyond what was issued.
   */
  checkSince(since: number): void {
    const latest = this.repo.lastIssued();
    const oldest = this.repo.oldest() ?? latest + 1; // nothing kept: only "since = latest" is complete
    if (since > latest) {
      throw new UmldError("events_expired", `seq ${since} was never issued by this daemon (the newest is ${latest}): resync and reconnect without since`, { since, oldest, latest });
    }
    if (since + 1 < oldest) {
      throw new UmldError("events_expired", `the events after seq ${since} are no longer kept (the oldest kept is ${oldest}): resync and reconnect with since=${latest}`, { since, oldest, latest });
    }
  }

  /** Up to `limit` events after `since` that pass the filter, in seq order. */
  page(since: number, filter: EventFilter = {}, limit = REPLAY_PAGE): Event[] {
    return this.repo.after(since, limit, filter).map((r) => ({ ...(JSON.parse(r.body) as EventDraft), seq: r.seq }) as Event);
  }

  prune(before: string, keep: number, batch: number): number {
    return this.repo.prune(before, keep, batch);
  }
}
