import { Event } from "../../protocol/events.js";
import type { Session } from "./session.js";

export type StreamStatus = "connecting" | "live" | "reconnecting" | "closed";
const BACKOFF_MS = [1000, 2000, 5000, 10_000, 15_000];
const RECENT = 500;
/** Close code of a socket whose token was revoked or expired (daemon/ws/sessions.ts). */
export const RIGHTS_ENDED = 4401;

/**
 * The one /v1/events WebSocket of the page: every view listens to it instead
 * of polling. After a reconnect, `onResync` listeners reload what they show
 * (events may have been missed); a daemon that numbers its events (`seq`) is
 * asked to replay from the last one seen, and asked nothing when it cannot.
 */
export class EventStream {
  status: StreamStatus = "connecting";
  /** the last events received, oldest first */
  readonly recent: Event[] = [];
  private ws: WebSocket | null = null;
  private listeners = new Set<(e: Event) => void>();
  private resyncs = new Set<() => void>();
  private statusListeners = new Set<() => void>();
  private attempt = 0;
  private lastSeq: number | null = null;
  private replay = true;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;

  constructor(private readonly session: Session) {}

  start(): void {
    const since = this.replay && this.lastSeq !== null ? `?since=${this.lastSeq}` : "";
    const ws = (this.ws = this.session.webSocket(`/v1/events${since}`));
    let opened = false;
    ws.onopen = () => {
      opened = true;
      const again = this.attempt > 0;
      this.attempt = 0;
      this.setStatus("live");
      if (again) for (const fn of this.resyncs) fn();
    };
    ws.onmessage = (m) => {
      if (typeof m.data !== "string") return;
      let raw: unknown;
      try {
        raw = JSON.parse(m.data);
      } catch {
        return;
      }
      const seq = (raw as { seq?: unknown }).seq;
      if (typeof seq === "number") this.lastSeq = seq;
      const e = Event.safeParse(raw);
      if (!e.success) return; // a type this dashboard does not know yet
      this.recent.push(e.data);
      if (this.recent.length > RECENT) this.recent.splice(0, this.recent.length - RECENT);
      for (const fn of this.listeners) fn(e.data);
    };
    ws.onclose = (c) => {
      if (this.closed) return;
      if (c.code === RIGHTS_ENDED) {
        this.setStatus("closed");
        this.session.onRightsEnded(`the daemon ended the session: ${c.reason || "token revoked"}`);
        return;
      }
      if (!opened && since) this.replay = false; // e.g. 410: those events are gone; reload instead
      this.setStatus("reconnecting");
      this.timer = setTimeout(() => this.start(), BACKOFF_MS[Math.min(this.attempt++, BACKOFF_MS.length - 1)]);
    };
  }

  on(fn: (e: Event) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onResync(fn: () => void): () => void {
    this.resyncs.add(fn);
    return () => this.resyncs.delete(fn);
  }

  readonly onStatus = (fn: () => void): (() => void) => {
    this.statusListeners.add(fn);
    return () => this.statusListeners.delete(fn);
  };

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close(1000, "signed out");
    this.setStatus("closed");
  }

  private setStatus(s: StreamStatus): void {
    this.status = s;
    for (const fn of this.statusListeners) fn();
  }
}
