/** A connection with no traffic either way for this long is closed (1001); pings alone do not keep it. */
export const IDLE_TIMEOUT_MS = 30 * 60_000;
export const PING_EVERY_MS = 30_000;

export interface PingableSocket {
  ping(): void;
  close(code: number, reason: string): void;
  terminate(): void;
  on(event: "pong" | "close", listener: () => void): unknown;
}

/**
 * Pings every `pingMs` (a peer that did not answer the previous ping is
 * terminated) and closes a connection idle for `idleMs`. The owner calls
 * `touch()` for every frame sent or received: events flowing to a reader
 * count as activity just like a console's output.
 */
export function keepAlive(ws: PingableSocket, idleMs = IDLE_TIMEOUT_MS, pingMs = PING_EVERY_MS): { touch(): void } {
  let alive = true;
  let last = Date.now();
  ws.on("pong", () => (alive = true));
  const timer = setInterval(() => {
    if (!alive) return ws.terminate();
    if (Date.now() - last > idleMs) return ws.close(1001, "idle");
    alive = false;
    ws.ping();
  }, pingMs);
  timer.unref();
  ws.on("close", () => clearInterval(timer));
  return { touch: () => (last = Date.now()) };
}
