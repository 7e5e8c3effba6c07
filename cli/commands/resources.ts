import type { BodyIn } from "../../protocol/contract.js";
import { MemoryReclaim } from "../../protocol/instances.js";
import type { Ctx, Values } from "../context.js";
import type { CommandSpec } from "./command.js";

/** --cpus, --cpu-weight, --io-weight, --pids, --net-mbit: a guest's limits (docs/live-changes.md, docs/networking.md). */
export const LIMIT_FLAGS = [
  ["cpus", "cpus"],
  ["cpu-weight", "cpuWeight"],
  ["io-weight", "ioWeight"],
  ["pids", "pids"],
  ["net-mbit", "netMbit"],
] as const;

/** The limit flags given, as `limits` (none: null, which lifts it). */
export function limitFlags(v: Values): NonNullable<BodyIn<"patchInstance">["limits"]> {
  const l: Record<string, number | null> = {};
  for (const [flag, key] of LIMIT_FLAGS) {
    const given = v[flag];
    if (typeof given === "string") l[key] = given === "none" ? null : Number(given);
  }
  return l;
}

/** --reclaim auto|off, checked by the protocol's schema. */
export function reclaimFlag(x: Ctx, v: Values): MemoryReclaim | undefined {
  return v.reclaim === undefined ? undefined : x.field(MemoryReclaim, v.reclaim, "body.memoryReclaim");
}

/** What a guest may use of the host: memory reclaim and cgroup limits, live. */
export const resourceCommands: CommandSpec[] = [
  {
    name: "reclaim",
    help: ["reclaim NAME auto|off                umld gives the guest's unused memory back to the host by itself (or not)"],
    completes: "instance",
    async run(x) {
      const name = x.arg(0, "reclaim needs NAME auto|off");
      const mode = x.field(MemoryReclaim, x.arg(1, "reclaim needs NAME auto|off"), "body.memoryReclaim");
      const r = await x.c.call("patchInstance", { params: { name }, body: { memoryReclaim: mode } });
      x.out(r, `${name}: memory reclaim ${r.instance.memoryReclaim}`);
    },
  },
  {
    name: "limits",
    help: ["limits NAME [--cpus X] [--cpu-weight N] [--io-weight N] [--pids N] [--net-mbit N]   live; none lifts one"],
    flags: LIMIT_FLAGS.map(([f]) => f),
    completes: "instance",
    async run(x) {
      const name = x.arg(0, "limits needs an instance NAME");
      const limits = limitFlags(x.v);
      if (Object.keys(limits).length === 0) {
        const i = await x.c.call("getInstance", { params: { name } });
        return x.out(i.limits, `${name}: ${JSON.stringify(i.limits)} (${i.cpuSeconds ?? "-"} CPU seconds)`);
      }
      const r = await x.c.call("patchInstance", { params: { name }, body: { limits } });
      x.out(r, `${name}: ${JSON.stringify(r.instance.limits)}`);
    },
  },
];
