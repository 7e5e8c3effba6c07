import { z } from "zod";
import { BootOption, Name, OwnedName } from "./names.js";
import { NicView } from "./networks.js";

export const INSTANCE_STATES = ["stopped", "starting", "running", "paused", "stopping", "crashed"] as const;
export const InstanceState = z.enum(INSTANCE_STATES);
export type InstanceState = z.infer<typeof InstanceState>;

export const INSTANCE_ACTIONS = ["start", "shutdown", "halt", "reboot", "pause", "resume", "upgrade"] as const;
export const InstanceAction = z.enum(INSTANCE_ACTIONS);
export type InstanceAction = z.infer<typeof InstanceAction>;

/**
 * The lifecycle actions valid in each state, for clients that offer only
 * those (the dashboard's buttons); core/lifecycle/transitions.ts is the table
 * the daemon applies, and a unit test checks that the two agree.
 */
export const ACTIONS_IN_STATE: Readonly<Record<InstanceState, readonly Exclude<InstanceAction, "upgrade">[]>> = {
  stopped: ["start"],
  crashed: ["start"],
  starting: ["shutdown", "halt"],
  running: ["shutdown", "halt", "reboot", "pause"],
  paused: ["resume", "shutdown", "halt", "reboot"],
  stopping: ["halt"],
};

export const RestartPolicy = z.enum(["never", "on-failure", "always"]);
export const OnHang = z.enum(["report", "reset"]);

/** Policies: what umld does without being asked. */
export const PolicyFields = {
  autostart: z.boolean().optional().describe("start when umld starts"),
  autostartOrder: z.number().int().min(0).max(10000).optional().describe("lower starts first"),
  autostartDelayS: z.number().min(0).max(3600).optional().describe("wait this long before starting it"),
  restartPolicy: RestartPolicy.optional().describe("never | on-failure (crash, panic, signal) | always (also when the guest powers itself off)"),
  hangTimeoutS: z.number().int().min(0).max(3600).optional().describe("report (or reset) a guest whose kernel makes no progress this long; 0: off"),
  onHang: OnHang.optional().describe("report: an instance.hang event; reset: also halt and start it"),
};

/** The fewest host processes a guest may be limited to: UML and its helpers, and a boot's burst (~21). */
export const PIDS_MIN = 32;
/** cgroup v2's range for cpu.weight and io.weight (v1 shares and BFQ weights are derived: docs/performance.md). */
export const WEIGHT_MIN = 1;
export const WEIGHT_MAX = 10_000;
/** A NIC's rate in Mbit/s: at least 1, at most 100 Gbit/s. */
export const NET_MBIT_MIN = 1;
export const NET_MBIT_MAX = 100_000;

/** Resource limits of an instance: one object, so more limits can join it; each field optional, null lifts it. */
export const Limits = z
  .object({
    cpus: z
      .number()
      .min(0.01)
      .max(1024)
      .nullable()
      .optional()
      .describe("most CPU time, in cores (0.25: a quarter of one core), enforced by the guest's cgroup; at most the host's cores and its tenant's maxCpus; null: unlimited"),
    cpuWeight: z
      .number()
      .int()
      .min(WEIGHT_MIN)
      .max(WEIGHT_MAX)
      .nullable()
      .optional()
      .describe("share of CPU time under contention, relative to other guests (1-10000, default 100); null: the default"),
    ioWeight: z
      .number()
      .int()
      .min(WEIGHT_MIN)
      .max(WEIGHT_MAX)
      .nullable()
      .optional()
      .describe("share of disk time under contention (1-10000, default 100); only where the host's disk scheduler weighs cgroups (BFQ, or io.cost); null: the default"),
    pids: z
      .number()
      .int()
      .min(PIDS_MIN)
      .max(1_000_000)
      .nullable()
      .optional()
      .describe("most host processes of the guest (UML, its helpers, one per guest process; at least 32, at most the daemon's --guest-max-processes); null: that maximum"),
    netMbit: z
      .number()
      .int()
      .min(NET_MBIT_MIN)
      .max(NET_MBIT_MAX)
      .nullable()
      .optional()
      .describe("each NIC on a switch or host network is shaped to this many Mbit/s in each direction (1-100000), live; null: unlimited"),
  })
  .strict();
export type Limits = z.input<typeof Limits>;

export const LimitsView = z
  .object({
    cpus: z.number().nullable().describe("CPU cap in cores; null: unlimited"),
    cpuWeight: z.number().int().nullable().describe("CPU weight; null: the default (100)"),
    ioWeight: z.number().int().nullable().describe("I/O weight; null: the default (100)"),
    pids: z.number().int().nullable().describe("most host processes; null: the daemon's --guest-max-processes"),
    netMbit: z.number().int().nullable().describe("each NIC's rate in each direction, Mbit/s; null: unlimited"),
  })
  .describe(
    "resource limits, applied live: CPU, I/O and processes through the guest's cgroup (docs/live-changes.md); netMbit: each switch/host NIC shaped to this many Mbit/s each way (docs/networking.md)",
  );

export const MemoryReclaim = z.enum(["off", "auto"]);
export type MemoryReclaim = z.infer<typeof MemoryReclaim>;
const MEMORY_RECLAIM_DOC =
  "auto: umld unplugs the memory the guest does not use (keeping a headroom free) and plugs it back before the guest runs short, never above memoryMiB; off: the guest keeps memoryMiB";

/** Guest memory in MiB: below 32 UML panics or deadlocks; 64 GiB is a sanity cap. */
export const MemoryMiB = z.number().int().min(32).max(65536);

export const CreateInstanceRequest = z
  .object({
    name: Name.describe("instance name, also the guest hostname; e.g. web-1"),
    memoryMiB: MemoryMiB.default(64).describe("guest RAM in MiB (32-65536): the live target"),
    maxMemoryMiB: MemoryMiB.optional().describe("boot size in MiB, at least memoryMiB (default: memoryMiB); memory can be raised live up to it"),
    diskQuotaMiB: z
      .number()
      .int()
      .min(1)
      .max(64 * 1024 * 1024)
      .optional()
      .describe("the most the instance's writable disks may grow (their virtual sizes), in MiB"),
    memoryReclaim: MemoryReclaim.optional().describe(`${MEMORY_RECLAIM_DOC} (default off)`),
    limits: Limits.optional(),
    ...PolicyFields,
    image: Name.optional().describe("image name; the default image when absent"),
    kernel: Name.optional().describe("kernel name; the default kernel when absent"),
    host: Name.optional().describe("fleet only, admins only: the host to create it on; absent: the up host with the most free memory (docs/fleet.md)"),
    bootOptions: z.array(BootOption).max(32).optional().describe("replaces umld's default fast-boot options (pty.legacy_count=0 initcall_blacklist=raid6_select_algo lpj=...)"),
  })
  .strict()
  .refine((r) => r.maxMemoryMiB === undefined || r.maxMemoryMiB >= r.memoryMiB, { message: "maxMemoryMiB must be at least memoryMiB", path: ["maxMemoryMiB"] });
export type CreateInstanceRequest = z.input<typeof CreateInstanceRequest>;

export const StateActionRequest = z
  .object({
    action: InstanceAction,
    timeoutS: z.number().positive().max(3600).optional().describe("seconds to wait for the action (default per action)"),
    wait: z.boolean().default(true).describe("false: answer 202 with the operation at once"),
    kernel: Name.optional().describe("upgrade only: the kernel to boot (staged, then the guest is restarted on it)"),
    deadlineS: z.number().positive().max(600).optional().describe("upgrade only: seconds the new kernel has to boot before it is rolled back (default 30)"),
  })
  .strict()
  .refine((r) => r.action !== "upgrade" || r.kernel !== undefined, { message: "upgrade needs a kernel", path: ["kernel"] })
  .refine((r) => r.action === "upgrade" || (r.kernel === undefined && r.deadlineS === undefined), {
    message: "kernel and deadlineS go only with action upgrade",
    path: ["kernel"],
  });

/** An absolute host path an admin grants: no . or .. segments, nothing that splits a UML option. */
export const HostDir = z
  .string()
  .max(200)
  .regex(/^\/[A-Za-z0-9._/-]*$/, "an absolute path of [A-Za-z0-9._/-]")
  .refine((p) => !p.split("/").some((seg) => seg === "." || seg === ".."), "no . or .. segments");

/** Live changes: memory on a running guest (plug/unplug), the boot size and kernel for the next start. */
export const PatchInstanceRequest = z
  .object({
    memoryMiB: MemoryMiB.optional().describe("live memory target; never above maxMemoryMiB"),
    maxMemoryMiB: MemoryMiB.optional().describe("boot size; only while the instance is stopped or crashed"),
    kernel: Name.nullable().optional().describe("stage this kernel for the next start (null: unstage)"),
    diskQuotaMiB: z
      .number()
      .int()
      .min(1)
      .max(64 * 1024 * 1024)
      .nullable()
      .optional()
      .describe("disk quota in MiB (null: none)"),
    hostfsDir: HostDir.nullable().optional().describe("admins only: the one host directory the guest may mount with hostfs (as the guest user), from its next start; null: none"),
    memoryReclaim: MemoryReclaim.optional().describe(`${MEMORY_RECLAIM_DOC}; live`),
    limits: Limits.optional().describe("changed live (a running guest's cgroup and NICs at once); fields left out stay as they are"),
    ...PolicyFields,
  })
  .strict()
  .refine((r) => Object.keys(r).length > 0, { message: "nothing to change" });
export type PatchInstanceRequest = z.input<typeof PatchInstanceRequest>;

export const MemoryView = z.object({
  targetMiB: z.number().int().describe("the live target (= memoryMiB)"),
  maxMiB: z.number().int().describe("the boot size (= maxMemoryMiB)"),
  unpluggedMiB: z.number().int().describe("memory the daemon has taken back from the running guest"),
  safetyFloorMiB: z.number().int().describe("free memory the daemon always leaves the guest when unplugging"),
  reclaim: MemoryReclaim.describe("whether umld moves the guest's memory by itself (memoryReclaim)"),
  headroomMiB: z.number().int().describe("with reclaim auto: free memory kept in the guest; below it, memory is plugged back"),
  guestMemTotalKiB: z.number().int().nullable(),
  guestMemFreeKiB: z.number().int().nullable(),
  guestMemAvailableKiB: z.number().int().nullable(),
  hostAllocatedBytes: z.number().int().nullable().describe("bytes of the guest's RAM file actually backed on the host"),
});
export type MemoryView = z.infer<typeof MemoryView>;

export const MemoryChangeResult = z.object({
  requestedMiB: z.number().int(),
  memoryMiB: z.number().int().describe("the target reached: maxMemoryMiB - unpluggedMiB"),
  unpluggedMiB: z.number().int(),
  limitedBy: z.enum(["safety-floor", "guest"]).nullable().describe("why less was unplugged than asked, or null"),
  hostFreedBytes: z.number().int().nullable().describe("host memory the guest's RAM file gave back with this change (negative: grew)"),
  memory: MemoryView,
});
export type MemoryChangeResult = z.infer<typeof MemoryChangeResult>;
export type StateActionRequest = z.input<typeof StateActionRequest>;

export const InstanceNameParams = z.object({ name: OwnedName }).strict();
export const DeleteInstanceQuery = z.object({ force: z.enum(["true", "false"]).optional() }).strict();

export const ExitInfo = z.object({
  code: z.number().int().nullable().describe("process exit status, null when killed by a signal"),
  signal: z.string().nullable().describe("signal that ended the process, e.g. SIGKILL"),
  reason: z.string().describe("why the guest stopped, e.g. 'halted', 'kernel panic: ...', 'killed by SIGKILL'"),
  at: z.string().describe("ISO 8601 time"),
});
export type ExitInfo = z.infer<typeof ExitInfo>;

export const DiskView = z.object({
  slot: z.string().describe("guest device, e.g. ubda"),
  kind: z.enum(["cow", "raw"]),
  path: z.string(),
  backingPath: z.string().nullable(),
  backingSizeBytes: z.number().int().nullable(),
  backingMtime: z.number().int().nullable().describe("backing file mtime in whole seconds, as written in the COW header"),
  sizeBytes: z.number().int().describe("virtual size seen by the guest"),
  allocatedBytes: z.number().int().describe("host bytes actually used by this file"),
});
export type DiskView = z.infer<typeof DiskView>;

export const InstanceView = z.object({
  name: OwnedName.describe("the instance name (admins see a tenant's as <tenant>.<name>)"),
  id: z.string().describe("the internal id (also the UML umid)"),
  state: InstanceState.describe("see docs/lifecycle.md"),
  ready: z.boolean().describe("the guest signalled readiness since its last boot"),
  pid: z.number().int().nullable().describe("the UML main process (= its process group), null when not running; a new one after each reboot"),
  hostfsDir: z.string().nullable().describe("the host directory granted to the guest's hostfs; null: none"),
  memoryMiB: z.number().int().describe("live memory target in MiB"),
  maxMemoryMiB: z.number().int().describe("boot size in MiB"),
  unpluggedMiB: z.number().int().describe("memory taken back from the running guest"),
  memoryReclaim: MemoryReclaim.describe("auto: umld gives the guest's unused memory back to the host by itself"),
  kernel: z.string().describe("the kernel the next start boots"),
  bootedKernel: z.string().nullable().describe("the kernel the running guest booted, null when not running"),
  stagedKernel: z.string().nullable().describe("kernel staged for the next start"),
  image: z.string().describe("the image it was created from"),
  bootOptions: z.array(z.string()).describe("the extra kernel boot options, as created"),
  disks: z.array(DiskView).describe("its writable disks: the root COW (ubda) and data disks, with their backing and sizes"),
  diskUsage: z
    .object({
      quotaBytes: z.number().int().nullable(),
      virtualBytes: z.number().int().describe("what the writable disks may grow to"),
      allocatedBytes: z.number().int().describe("what they use on the host now"),
      exceeded: z.boolean(),
    })
    .describe("the disk quota and what the writable disks use (docs/layers.md)"),
  nics: z.array(NicView).describe("NICs: eth0.. on a network (docs/networking.md)"),
  attachments: z.array(z.object({ slot: z.string(), disk: z.string(), readOnly: z.boolean() })).describe("data disks (ubdb..ubdp)"),
  uptime: z.number().nullable().describe("seconds since the guest process started, null when not running"),
  bootCount: z.number().int().describe("boots of this instance, reboots included"),
  lastExit: ExitInfo.nullable().describe("how the last process ended, or null"),
  createdAt: z.string().describe("ISO 8601 time"),
  busy: z.string().nullable().describe('the action in progress, if any; "start (queued)" while a start waits for a boot slot (--boot-concurrency)'),
  policy: z
    .object({
      autostart: z.boolean(),
      autostartOrder: z.number().int(),
      autostartDelayS: z.number(),
      restartPolicy: RestartPolicy,
      hangTimeoutS: z.number().int(),
      onHang: OnHang,
    })
    .describe("what umld does without being asked (docs/operations.md)"),
  limits: LimitsView,
  cpuSeconds: z.number().nullable().describe("CPU time used by all the guest's host processes over every boot, from its cgroup (refreshed every few seconds); null: no cgroups on this host"),
  crashStreak: z.number().int().describe("crashes in a row, each within a minute of its start"),
  flag: z.string().nullable().describe("why umld stopped acting on its own (e.g. crash-loop); cleared by a start"),
  problems: z.array(z.string()).describe("what is wrong with the instance's files (missing COW, changed backing), as last checked: after each change, and in the background every ~15 s"),
  host: z.string().optional().describe("fleet only: the host the instance is on (docs/fleet.md)"),
});
export type InstanceView = z.infer<typeof InstanceView>;

export const InstanceList = z.object({
  instances: z.array(InstanceView),
  unreachable: z
    .array(z.object({ host: z.string(), instances: z.array(OwnedName) }))
    .optional()
    .describe("fleet only: instances of hosts that are lost or did not answer, by name (their views are not in `instances`)"),
});

export const PatchInstanceResult = z.object({
  instance: InstanceView,
  memory: MemoryChangeResult.nullable().describe("what a memory change did to the running guest; null when memoryMiB was not changed or the guest is not running"),
});
