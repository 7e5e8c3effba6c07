import type { UsageSample } from "../../protocol/usage.js";

/** How far back the history reaches. */
export const HISTORY_MS = 3600_000;

const FIELDS = ["cpuSeconds", "memoryTargetBytes", "memoryHostBytes", "memoryGuestAvailableBytes", "rxBytes", "txBytes", "rxPackets", "txPackets"] as const;
const STRIDE = FIELDS.length + 1; // + the time

/**
 * One guest's readings of the last hour, one kept every `keepEveryMs`, in a
 * ring of numbers (NaN for null): about 9 KiB a guest at the default 30 s,
 * so a thousand guests' history costs ~9 MiB, not a heap of objects.
 */
export class UsageHistory {
  private readonly slots: number;
  private readonly data: Float64Array;
  private next = 0;
  private count = 0;
  private lastKept = -Infinity;

  constructor(private readonly keepEveryMs: number) {
    this.slots = Math.max(2, Math.ceil(HISTORY_MS / keepEveryMs));
    this.data = new Float64Array(this.slots * STRIDE);
  }

  /** Keeps the reading if the last kept one is keepEveryMs old (a little early is fine: timers drift). */
  offer(now: number, s: UsageSample): void {
    if (now - this.lastKept < this.keepEveryMs * 0.9) return;
    this.lastKept = now;
    const at = this.next * STRIDE;
    this.data[at] = now;
    for (const [i, f] of FIELDS.entries()) this.data[at + 1 + i] = s[f] ?? NaN;
    this.next = (this.next + 1) % this.slots;
    this.count = Math.min(this.count + 1, this.slots);
  }

  /** Oldest first, from an hour ago; rates are over the time between two kept readings. */
  samples(now = Date.now()): UsageSample[] {
    const out: UsageSample[] = [];
    let prev: { t: number; v: number[] } | null = null;
    for (let k = 0; k < this.count; k++) {
      const at = ((this.next - this.count + k + this.slots) % this.slots) * STRIDE;
      const t = this.data[at]!;
      const v = FIELDS.map((_, i) => this.data[at + 1 + i]!);
      if (now - t > HISTORY_MS) {
        prev = { t, v };
        continue;
      }
      const n = (x: number) => (Number.isNaN(x) ? null : x);
      const dt = prev ? (t - prev.t) / 1000 : 0;
      const rate = (i: number, scale = 1) => {
        if (!prev || dt <= 0) return null;
        const d = v[i]! - prev.v[i]!;
        return Number.isNaN(d) || d < 0 ? null : (d / dt) * scale; // a reboot restarts the counters
      };
      out.push({
        at: new Date(t).toISOString(),
        cpuSeconds: n(v[0]!),
        cpuPercent: rate(0, 100),
        memoryTargetBytes: n(v[1]!) ?? 0,
        memoryHostBytes: n(v[2]!),
        memoryGuestAvailableBytes: n(v[3]!),
        rxBytes: n(v[4]!),
        txBytes: n(v[5]!),
        rxPackets: n(v[6]!),
        txPackets: n(v[7]!),
        rxBytesPerS: rate(4),
        txBytesPerS: rate(5),
      });
      prev = { t, v };
    }
    return out;
  }
}
