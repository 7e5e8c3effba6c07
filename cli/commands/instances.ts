import type { BodyIn } from "../../protocol/contract.js";
import { INSTANCE_ACTIONS, OnHang, RestartPolicy, type InstanceView } from "../../protocol/instances.js";
import type { Ctx, Values } from "../context.js";
import { bytes, col } from "../output.js";
import { withSpinner } from "../progress.js";
import type { CommandSpec } from "./command.js";
import { LIMIT_FLAGS, limitFlags, reclaimFlag } from "./resources.js";

type PolicyFlags = Pick<BodyIn<"patchInstance">, "restartPolicy" | "autostart" | "autostartOrder" | "autostartDelayS" | "hangTimeoutS" | "onHang">;
export const POLICY_FLAGS = ["restart", "autostart", "no-autostart", "order", "delay", "hang-timeout", "on-hang"] as const;

function policyFlags(x: Ctx, v: Values): PolicyFlags {
  const p: PolicyFlags = {};
  if (v.restart) p.restartPolicy = x.field(RestartPolicy, v.restart, "body.restartPolicy");
  if (v.autostart) p.autostart = true;
  if (v["no-autostart"]) p.autostart = false;
  if (v.order) p.autostartOrder = Number(v.order);
  if (v.delay) p.autostartDelayS = Number(v.delay);
  if (v["hang-timeout"]) p.hangTimeoutS = Number(v["hang-timeout"]);
  if (v["on-hang"]) p.onHang = x.field(OnHang, v["on-hang"], "body.onHang");
  return p;
}

/** The limit flags as the `limits` part of create and PATCH (none lifts one). */
function limitsPart(v: Values): Pick<BodyIn<"patchInstance">, "limits"> {
  const limits = limitFlags(v);
  return Object.keys(limits).length ? { limits } : {};
}

export const INSTANCE_COLUMNS = [
  col<InstanceView>("name", (i) => i.name),
  col<InstanceView>("state", (i) => i.state),
  col<InstanceView>("ready", (i) => i.ready),
  col<InstanceView>(
    "memory",
    (i) => i.memoryMiB,
    (i) => `${i.memoryMiB}M`,
  ),
  col<InstanceView>("pid", (i) => i.pid),
  col<InstanceView>(
    "uptime",
    (i) => (i.uptime === null ? null : Math.round(i.uptime)),
    (i) => (i.uptime === null ? "-" : `${Math.round(i.uptime)}s`),
  ),
  col<InstanceView>("image", (i) => i.image),
  col<InstanceView>("kernel", (i) => i.kernel),
  col<InstanceView>(
    "disk",
    (i) => i.diskUsage.allocatedBytes,
    (i) => bytes(i.diskUsage.allocatedBytes),
  ),
  col<InstanceView>("lastExit", (i) => i.lastExit?.reason ?? null, undefined, "last exit"),
];
/** What ls shows without -c (every key works with -c). */
const DEFAULT_LS = ["name", "state", "ready", "memory", "pid", "uptime", "image", "lastExit"];

const stateAction = (action: (typeof INSTANCE_ACTIONS)[number]): CommandSpec => ({
  name: action,
  help: action === "upgrade" ? ["upgrade NAME --kernel K [--deadline S]   boot another kernel now, rolled back if it fails"] : [`${action} NAME [--timeout S] [--no-wait]`],
  flags: ["timeout", "no-wait", ...(action === "upgrade" ? ["kernel", "deadline"] : [])],
  completes: "instance",
  async run(x) {
    const name = x.arg(0, `${action} needs an instance NAME`);
    const body: BodyIn<"changeState"> = { action, wait: !x.v["no-wait"] };
    if (x.v.timeout) body.timeoutS = Number(x.v.timeout);
    if (action === "upgrade") {
      body.kernel = x.v.kernel ?? x.fail("upgrade needs --kernel K");
      if (x.v.deadline) body.deadlineS = Number(x.v.deadline);
    }
    const r = await withSpinner(`${action} ${name}`, x.c.call("changeState", { params: { name }, body }));
    const i = r.instance;
    x.out(
      r,
      x.v["no-wait"]
        ? `${action}: operation ${r.operation.id} started`
        : `${i.name}: ${i.state}${i.ready ? " (ready)" : ""}${i.state === "stopped" || i.state === "crashed" ? ` — ${i.lastExit?.reason ?? ""}` : ""}`,
    );
  },
});

export const instanceCommands: CommandSpec[] = [
  {
    name: "ls",
    help: [`ls [-c name,state,...] [--format table|json|yaml|csv]   list instances (columns: ${INSTANCE_COLUMNS.map((c) => c.key).join(", ")})`],
    lists: true,
    async run(x) {
      const r = await x.c.call("listInstances");
      const cols = x.v.columns ? INSTANCE_COLUMNS : INSTANCE_COLUMNS.filter((c) => DEFAULT_LS.includes(c.key));
      x.list(r, r.instances, cols, "no instances");
    },
  },
  {
    name: "show",
    help: ["show NAME                            one instance (JSON; --format yaml)"],
    completes: "instance",
    async run(x) {
      x.out(await x.c.call("getInstance", { params: { name: x.arg(0, "show needs an instance NAME") } }));
    },
  },
  {
    name: "create",
    help: ["create NAME [--memory MIB] [--image IMG] [--kernel K] [--reclaim auto] [limit flags] [policy flags]"],
    flags: ["memory", "image", "kernel", "reclaim", ...LIMIT_FLAGS.map(([f]) => f), ...POLICY_FLAGS],
    async run(x) {
      const body: BodyIn<"createInstance"> = { name: x.arg(0, "create needs an instance NAME"), ...policyFlags(x, x.v), ...limitsPart(x.v) };
      if (x.v.memory) body.memoryMiB = Number(x.v.memory);
      if (x.v.image) body.image = x.v.image;
      if (x.v.kernel) body.kernel = x.v.kernel;
      const reclaim = reclaimFlag(x, x.v);
      if (reclaim) body.memoryReclaim = reclaim;
      const i = await x.c.call("createInstance", { body });
      x.out(i, `created ${i.name} (${i.memoryMiB}M, image ${i.image}, kernel ${i.kernel})`);
    },
  },
  {
    name: "set",
    help: [
      "set NAME [policy flags] [limit flags]   change policies and limits; policy flags: --restart never|on-failure|always,",
      "                                     --autostart / --no-autostart, --order N, --delay S, --hang-timeout S, --on-hang report|reset;",
      "                                     limit flags (live; none lifts one): --cpus X, --cpu-weight N, --io-weight N, --pids N,",
      "                                     --net-mbit N (each switch/host NIC shaped to N Mbit/s each way)",
    ],
    flags: [...POLICY_FLAGS, ...LIMIT_FLAGS.map(([f]) => f)],
    completes: "instance",
    async run(x) {
      const name = x.arg(0, "set needs an instance NAME");
      const body = { ...policyFlags(x, x.v), ...limitsPart(x.v) };
      if (Object.keys(body).length === 0) x.fail("set NAME needs a policy flag or a limit flag (see --help)");
      const r = await x.c.call("patchInstance", { params: { name }, body });
      x.out(r, `${name}: ${JSON.stringify({ ...r.instance.policy, limits: r.instance.limits })}`);
    },
  },
  {
    name: "rm",
    help: ["rm NAME [--force]                    delete (refused while running unless --force)"],
    flags: ["force"],
    completes: "instance",
    async run(x) {
      const r = await x.c.call("deleteInstance", { params: { name: x.arg(0, "rm needs an instance NAME") }, query: x.v.force ? { force: "true" } : {} });
      x.out(r, `deleted ${r.deleted}`);
    },
  },
  ...INSTANCE_ACTIONS.map(stateAction),
  {
    name: "mem",
    help: ["mem NAME MIB                         set the live memory target (plug/unplug now if running)"],
    completes: "instance",
    async run(x) {
      const name = x.arg(0, "mem needs NAME MIB");
      const r = await x.c.call("patchInstance", { params: { name }, body: { memoryMiB: Number(x.arg(1, "mem needs NAME MIB")) } });
      const m = r.memory;
      x.out(
        r,
        m
          ? `${name}: ${m.memoryMiB} MiB of ${r.instance.maxMemoryMiB} (requested ${m.requestedMiB}${m.limitedBy ? `; limited by ${m.limitedBy}` : ""}; guest MemFree ${Math.round((m.memory.guestMemFreeKiB ?? 0) / 1024)} MiB)`
          : `${name}: target ${r.instance.memoryMiB} MiB stored (applies when running)`,
      );
    },
  },
];
