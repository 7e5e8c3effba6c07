import { EventEmitter } from "node:events";
import type { Event } from "../../protocol/events.js";

/** The in-process typed event bus: feeds the events WebSocket, the logs and the tests. */
export class EventBus extends EventEmitter<{ event: [Event] }> {
  constructor() {
    super();
    this.setMaxListeners(0);
  }
  publish(e: Event): void {
    this.emit("event", e);
  }
}
