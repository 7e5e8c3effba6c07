import { closeSync, openSync, readSync, statSync } from "node:fs";

/** What core needs of a console viewer; the daemon adapts a WebSocket to it. */
export interface ConsoleViewer {
  send(data: Buffer): void;
  /** Bytes queued towards the viewer and not yet sent. */
  backlog(): number;
  close(code: number, reason: string): void;
}

/**
 * A viewer further behind than this is dropped: the guest console never waits
 * for a viewer, and a viewer that stops reading costs the daemon at most this
 * (plus the socket buffers) however much the guest prints.
 */
export const MAX_VIEWER_BACKLOG = 1024 * 1024;

interface Attached {
  viewer: ConsoleViewer;
  /** live chunks held back until the scrollback was sent */
  pending: Array<{ data: Buffer; offset: number }> | null;
  sentUpTo: number;
}

/**
 * The viewers of one instance's console. Viewers belong to the instance, not
 * to one boot: a viewer stays attached across reboots and stop/start.
 */
export class ConsoleHub {
  private viewers = new Set<Attached>();

  get count(): number {
    return this.viewers.size;
  }

  /** Adds a viewer that first gets `scrollback` (resolved later), then the live stream, without gaps or repeats. */
  attach(viewer: ConsoleViewer, scrollback: Promise<{ data: Buffer; end: number } | null>): () => void {
    const a: Attached = { viewer, pending: [], sentUpTo: -1 };
    this.viewers.add(a);
    scrollback.then(
      (sb) => {
        if (!this.viewers.has(a)) return;
        if (sb && sb.data.length > 0) viewer.send(sb.data);
        a.sentUpTo = sb ? sb.end : -1;
        const held = a.pending ?? [];
        a.pending = null;
        for (const c of held) this.deliver(a, c.data, c.offset);
      },
      () => {
        const held = a.pending ?? [];
        a.pending = null;
        for (const c of held) this.deliver(a, c.data, c.offset);
      },
    );
    return () => {
      this.viewers.delete(a);
    };
  }

  broadcast(data: Buffer, offset: number): void {
    for (const a of this.viewers) {
      if (a.pending) a.pending.push({ data, offset });
      else this.deliver(a, data, offset);
    }
  }

  /** A new boot restarts the worker's byte offsets. */
  resetOffsets(): void {
    for (const a of this.viewers) a.sentUpTo = -1;
  }

  closeAll(code: number, reason: string): void {
    for (const a of this.viewers) a.viewer.close(code, reason);
    this.viewers.clear();
  }

  private deliver(a: Attached, data: Buffer, offset: number): void {
    let chunk = data;
    if (a.sentUpTo >= 0) {
      const end = offset + data.length;
      if (end <= a.sentUpTo) return;
      if (offset < a.sentUpTo) chunk = data.subarray(a.sentUpTo - offset);
      a.sentUpTo = end;
    }
    if (a.viewer.backlog() > MAX_VIEWER_BACKLOG) {
      this.viewers.delete(a);
      a.viewer.close(1013, "console viewer too slow");
      return;
    }
    a.viewer.send(chunk);
  }
}

/** The last `maxBytes` of a console log file: the scrollback of an instance that is not running. */
export function readLogTail(path: string, maxBytes: number): Buffer {
  let fd = -1;
  try {
    const size = statSync(path).size;
    const len = Math.min(size, maxBytes);
    const buf = Buffer.alloc(len);
    fd = openSync(path, "r");
    readSync(fd, buf, 0, len, size - len);
    return buf;
  } catch {
    return Buffer.alloc(0);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}
