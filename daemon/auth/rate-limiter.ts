/** One window's verdict: allowed, or refused with the seconds until the window ends. */
export type Verdict = { ok: true } | { ok: false; retryAfterS: number; limit: number };

/** Keys beyond this share one window: a flood from ever new keys cannot grow the map without bound. */
export const MAX_KEYS = 100_000;
export const OVERFLOW_KEY = "*overflow*";

/**
 * A fixed-window counter per key (a token, or a remote address without one):
 * at most `max` hits per `windowMs`. Pure and synchronous: HTTP requests and
 * WebSocket upgrades share one instance, so both draw on the same budget.
 */
export class RateLimiter {
  private windows = new Map<string, { count: number; resetAt: number }>();

  constructor(
    readonly max: number,
    readonly windowMs = 60_000,
    private readonly maxKeys = MAX_KEYS,
  ) {}

  hit(key: string, now = Date.now()): Verdict {
    let w = this.windows.get(key);
    if (!w || w.resetAt <= now) {
      if (!w && key !== OVERFLOW_KEY && this.windows.size >= this.maxKeys) {
        this.sweep(now);
        if (this.windows.size >= this.maxKeys) return this.hit(OVERFLOW_KEY, now);
      }
      w = { count: 0, resetAt: now + this.windowMs };
      this.windows.set(key, w);
    }
    w.count++;
    if (w.count <= this.max) return { ok: true };
    return { ok: false, retryAfterS: Math.max(1, Math.ceil((w.resetAt - now) / 1000)), limit: this.max };
  }

  /** Forgets ended windows (called by the daemon's timer and when the map is full). */
  sweep(now = Date.now()): void {
    for (const [k, w] of this.windows) if (w.resetAt <= now) this.windows.delete(k);
  }

  get size(): number {
    return this.windows.size;
  }
}

/**
 * The key of a remote address without a token: IPv4 as is (also when mapped
 * into IPv6), IPv6 by its /64, since one host usually owns a whole /64.
 */
export function addressKey(remote: string | undefined): string {
  if (!remote) return "addr:unknown";
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remote);
  if (v4) return `addr:${v4[1]}`;
  if (!remote.includes(":")) return `addr:${remote}`;
  const [head = "", tail = ""] = remote.toLowerCase().split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = remote.includes("::") ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right] : left;
  return `addr:${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}
