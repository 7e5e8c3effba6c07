import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { NET_MBIT_MAX, NET_MBIT_MIN } from "../../protocol/instances.js";
import { run, safeIf } from "./host-links.js";

/**
 * A NIC's rate limit (`limits.netMbit` of its instance), in each direction,
 * with tc on its TAP: a token bucket (tbf) as the TAP's root qdisc shapes
 * what the guest receives; what it sends arrives on the TAP's ingress, which
 * has no queue, so it is redirected to an IFB device of its own (`umlq-…`)
 * and shaped by a second tbf there. Queued, not policed: TCP sees delay
 * rather than loss, and a guest gets its rate (a policer at 50 Mbit/s gave
 * 63 here with 64 KiB GSO frames; tbf 48). Both the TAP and the IFB keep
 * their qdiscs across guest restarts and daemon restarts (kernel objects).
 */
/** Bytes the bucket holds: 10 ms at the rate, at least one 64 KiB GSO frame (the guest's TSO sends those). */
export function burstBytes(mbit: number): number {
  return Math.max(64 * 1024, Math.ceil((mbit * 1_000_000) / 8 / 100));
}

/**
 * Bytes the queue may hold: 50 ms at the rate plus the bucket, at most 8 MiB of kernel memory that
 * no guest's cgroup is charged for (tbf's `latency 50ms` alone would let a 100 Gbit NIC queue 625 MB).
 */
export function queueBytes(mbit: number): number {
  return Math.min((mbit * 1_000_000) / 8 / 20, 8 * 1024 * 1024) + burstBytes(mbit);
}

/** The `tc -batch` lines that shape `tap` (and `ifb`) to `mbit`; replace-only, so applying twice is a no-op. */
export function shapingBatch(tap: string, ifb: string, mbit: number): string {
  if (!Number.isInteger(mbit) || mbit < NET_MBIT_MIN || mbit > NET_MBIT_MAX) throw new Error(`not a rate: ${mbit}`);
  const tbf = `tbf rate ${mbit}mbit burst ${burstBytes(mbit)} limit ${Math.ceil(queueBytes(mbit))}`;
  const lines = [
    `qdisc replace dev ${safeIf(ifb)} root ${tbf}`,
    `qdisc replace dev ${safeIf(tap)} root ${tbf}`,
    `qdisc replace dev ${tap} handle ffff: ingress`,
    `filter replace dev ${tap} parent ffff: prio 1 protocol all u32 match u32 0 0 action mirred egress redirect dev ${ifb}`,
  ];
  return `${lines.join("\n")}\n`;
}

export class NicShaping {
  constructor(private readonly log: Logger) {}

  /** Shapes the NIC to `mbit` in each direction, or (null) removes any shaping. The TAP exists. */
  apply(tap: string, ifb: string, mbit: number | null): void {
    if (mbit === null) return this.remove(tap, ifb);
    if (!existsIf(ifb)) run("ip", ["link", "add", safeIf(ifb), "type", "ifb"]);
    run("ip", ["link", "set", ifb, "up"]);
    run("tc", ["-batch", "-"], shapingBatch(tap, ifb, mbit));
    this.log.debug({ tap, mbit }, "NIC shaped");
  }

  /** No shaping: the TAP's qdiscs back to the default, its IFB gone (both may be absent). */
  remove(tap: string, ifb: string): void {
    if (existsIf(tap) && existsIf(ifb)) {
      for (const args of [
        ["qdisc", "del", "dev", tap, "root"],
        ["qdisc", "del", "dev", tap, "ingress"],
      ]) {
        try {
          run("tc", args);
        } catch {
          // not there
        }
      }
    }
    if (existsIf(ifb)) run("ip", ["link", "del", safeIf(ifb)]);
  }
}

function existsIf(name: string): boolean {
  try {
    return readFileSync(`/sys/class/net/${safeIf(name)}/ifindex`, "utf8").length > 0;
  } catch {
    return false;
  }
}
