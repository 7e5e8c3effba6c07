import { unlinkSync } from "node:fs";
import { chownSocket } from "../host/guest-socket.js";
import { native, type NativeDgramSocket } from "../native.js";
import { decodeNotify, READY_CONSOLE_MARKER, READY_NOTIFY_TEXT } from "../uml/notify.js";

/**
 * The guest's notify socket (mconsole=notify:PATH), bound fresh in its
 * root-owned socket directory and given to the guest, which sends to it.
 */
export function bindNotifySocket(path: string, owner: { uid: number; gid: number }, onDatagram: (buf: Buffer) => void, warn: (msg: string) => void): NativeDgramSocket {
  try {
    unlinkSync(path);
  } catch {
    // absent
  }
  const sock = new native.Socket((buf, truncated) => {
    if (truncated)
      warn("a notification longer than 64 KiB was dropped"); // the kernel's are short: a guest forged it
    else onDatagram(buf);
  });
  sock.bind(path);
  chownSocket(path, owner.uid, owner.gid);
  return sock;
}

/** What the guest kernel says on the notify socket (mconsole=notify:PATH), by kind. */
export interface NotifyHandlers {
  /** SOCKET: the kernel is up and its mconsole listens (the path it names is never used) */
  socket(mconsolePath: string): void;
  /** USER "umld:ready": the image's init signalled readiness */
  ready(): void;
  /** any other USER text (a guest may write /proc/mconsole as often as it likes) */
  note(text: string): void;
  panic(message: string): void;
  /** uml_watchdog: the guest's /dev/watchdog was not fed */
  hang(): void;
  unknown(bytes: number): void;
}

export function dispatchNotify(buf: Buffer, h: NotifyHandlers): void {
  const m = decodeNotify(buf);
  switch (m.type) {
    case "socket":
      return h.socket(m.mconsolePath);
    case "user":
      return m.text.startsWith(READY_NOTIFY_TEXT) ? h.ready() : h.note(m.text);
    case "panic":
      return h.panic(m.message);
    case "hang":
      return h.hang();
    default:
      return h.unknown(buf.length);
  }
}

/**
 * Whether this boot's guest said it is ready: the notify message, or the
 * image's marker on the console as the fallback (it may straddle chunks).
 */
export class Readiness {
  private isReady = false;
  private markerTail = "";

  constructor(private readonly onReady: (via: "notify" | "console") => void) {}

  get ready(): boolean {
    return this.isReady;
  }

  /** A new boot: not ready until it says so. */
  reset(): void {
    this.isReady = false;
    this.markerTail = "";
  }

  /** An adopted guest was ready before this supervisor saw it. */
  assumeReady(): void {
    this.isReady = true;
    this.markerTail = "";
  }

  mark(via: "notify" | "console"): void {
    if (this.isReady) return;
    this.isReady = true;
    this.markerTail = "";
    this.onReady(via);
  }

  console(chunk: Buffer): void {
    if (this.isReady) return;
    const text = this.markerTail + chunk.toString("latin1");
    if (text.includes(READY_CONSOLE_MARKER)) return this.mark("console");
    this.markerTail = text.slice(-READY_CONSOLE_MARKER.length);
  }
}

/** A guest's notes for the log: at most `perMinute` a minute, with a count of those left out. */
export function guestNotes(log: (msg: string, fields: Record<string, unknown>) => void, perMinute = 10, now: () => number = Date.now): (text: string) => void {
  const limit = noteLimiter(perMinute, now);
  return (text) => {
    const n = limit.take();
    if (n.leftOut) log("guest notifications left out of the log", { count: n.leftOut });
    if (n.log) log("guest notification", { text: text.slice(0, 200) });
  };
}

/** At most `perMinute` of a guest's notes reach the log; `take` says whether this one does, and how many the last window left out. */
export function noteLimiter(perMinute = 10, now: () => number = Date.now): { take(): { log: boolean; leftOut: number } } {
  let windowStart = 0;
  let count = 0;
  return {
    take() {
      let leftOut = 0;
      if (now() - windowStart > 60_000) {
        leftOut = Math.max(0, count - perMinute);
        windowStart = now();
        count = 0;
      }
      return { log: ++count <= perMinute, leftOut };
    },
  };
}
