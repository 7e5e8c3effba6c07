import { existsSync, mkdirSync, realpathSync, rmSync, statSync } from "node:fs";
import type { Logger } from "pino";
import type { InstanceAction, InstanceState, InstanceView } from "../../protocol/instances.js";
import type { ActionResult } from "../../protocol/operations.js";
import { ConsoleHub, readLogTail, type ConsoleViewer } from "../console/console-hub.js";
import { UmldError } from "../errors.js";
import type { EventBus } from "../events/bus.js";
import { isActive, transition, type LifecycleEvent } from "../lifecycle/transitions.js";
import type { Operations } from "../operations/operations.js";
import { instanceFiles, type StatePaths } from "../paths.js";
import type { Catalog } from "../storage/catalog.js";
import type { DiskRow, InstanceRow, InstancesRepo, StateChange } from "../store/instances-repo.js";
import { native } from "../native.js";
import { defaultBootOptions } from "../uml/argv.js";
import { bootOptionProblem } from "../../protocol/names.js";
import { checkCow, createCow } from "../uml/cow.js";
import { newId, nowIso } from "../util/ids.js";
import { Revert } from "../util/revert.js";
import { DEFAULT_ACTION_TIMEOUT_S, type InstanceCommand } from "./commands.js";
import { LiveDisks } from "./live-disks.js";
import { LiveMemory } from "./live-memory.js";
import { ConsoleChannels } from "./console-channels.js";
import { KernelUpgrades } from "./kernel-upgrades.js";
import type { DataDisksRepo } from "../store/data-disks-repo.js";
import type { ChannelsRepo } from "../store/channels-repo.js";
import type { SnapshotsRepo } from "../store/snapshots-repo.js";
import { recordOf, Snapshots } from "./snapshots.js";
import type { GuestFilter } from "../network/guest-filter.js";
import { Networks } from "../network/networks.js";
import type { SwitchSupervisor } from "../network/switches.js";
import type { HostLinks } from "../network/host-links.js";
import type { GuestIdentity } from "../guest/identity.js";
import { grantFile, prepareInstanceDir } from "./guest-files.js";
import { liveGuestProcesses, sweepStateFiles, type LiveGuest } from "./reconcile.js";
import { bootSpec, type BootInputs } from "./boot-spec.js";
import { adminGid, sharedGid, type HostIds } from "../jail/host-ids.js";
import { imageGid } from "../storage/seal.js";
import type { CgroupLayout } from "../jail/cgroups.js";
import { binaryFiles } from "../jail/binary-files.js";
import type { JailFile } from "../jail/elf-deps.js";
import type { JailChange } from "../jail/jail-spec.js";
import { isGuestProcess } from "../host/procfs.js";
import type { NetworksRepo } from "../store/networks-repo.js";
import { CRASH_WINDOW_S, Policies } from "./policies.js";
import type { PolicyInput } from "./commands.js";
import type { ChannelView, GuestFacts, MconsoleRequest } from "../../protocol/guest.js";
import { guestFacts, passthrough } from "./guest-access.js";
import type { z } from "zod";
import type { SupervisorHost, WorkerPool } from "../supervisor/host.js";
import type { FromWorker, WorkerBootSpec } from "../supervisor/rpc.js";
import { allocatedBytes, asObject } from "../util/fs.js";

export interface ManagerOptions {
  paths: StatePaths;
  repo: InstancesRepo;
  disksRepo: DataDisksRepo;
  channelsRepo: ChannelsRepo;
  snapshotsRepo: SnapshotsRepo;
  networksRepo: NetworksRepo;
  switches: SwitchSupervisor;
  hostLinks: HostLinks;
  /** what guests' host processes may send (absent: unfiltered) */
  guestFilter?: GuestFilter;
  catalog: Catalog;
  operations: Operations;
  bus: EventBus;
  pool: WorkerPool;
  log: Logger;
  scrollbackBytes?: number;
  consoleLogMaxBytes?: number;
  jail: JailConfig;
}

/** How guests are jailed (core/jail/): their ids, cgroups and the launcher. */
export interface JailConfig {
  hostIds: HostIds;
  cgroups: CgroupLayout | null;
  launcher: string;
  /** most host processes per guest (its cgroup's pids.max and RLIMIT_NPROC of its uid) */
  maxProcesses: number;
  /** the gid the owner of an instance (by stored name) shares images and read-only disks through: its tenant's, or null for an admin's */
  tenantGid(instanceName: string): number | null;
}

/** What the main thread knows of a guest while a worker supervises it. */
interface Runtime {
  host: SupervisorHost;
  busy: InstanceAction | null;
  log: Logger;
  /** what the running guest's jail holds beyond its boot (paths inside it), so a hot-plug adds a thing once */
  jail: Set<string>;
}

type Fact = "booted" | "ready" | "exited" | "spawned" | "fatal";

/**
 * Owns every instance: runs the command vocabulary, applies the lifecycle
 * table, persists each transition (one transaction, before it is announced),
 * and relays worker facts. Never blocks on an instance: all guest I/O is in
 * the workers.
 */
export class InstanceManager {
  private runtimes = new Map<string, Runtime>();
  /** ids whose start was accepted but whose worker is not attached yet */
  private pendingStarts = new Set<string>();
  private hubs = new Map<string, ConsoleHub>();
  private factWaiters = new Map<string, Set<(fact: Fact, m?: FromWorker) => void>>();
  private readonly lpjDefaults = defaultBootOptions();
  private readonly scrollbackBytes: number;
  private readonly consoleLogMaxBytes: number;
  /** ids in the middle of an upgrade (shutdown, start on the new kernel, maybe rollback) */
  private upgrading = new Set<string>();
  readonly memory: LiveMemory;
  readonly disks: LiveDisks;
  private readonly channels: ConsoleChannels;
  private readonly upgrades: KernelUpgrades;
  readonly snapshots: Snapshots;
  readonly policies: Policies;
  readonly networks: Networks;

  constructor(private readonly o: ManagerOptions) {
    this.scrollbackBytes = o.scrollbackBytes ?? 256 * 1024;
    this.consoleLogMaxBytes = o.consoleLogMaxBytes ?? 16 * 1024 * 1024;
    this.memory = new LiveMemory(this, o.repo, o.bus, o.log, (id) => o.paths.umlDir(id));
    this.channels = new ConsoleChannels(o.channelsRepo, o.log);
    this.upgrades = new KernelUpgrades(this, o.repo, o.catalog, o.operations, o.bus, o.log);
    this.snapshots = new Snapshots(this, o.repo, o.snapshotsRepo, o.catalog, o.operations, o.log);
    this.policies = new Policies(this, o.repo, o.bus, o.log);
    this.networks = new Networks(this, o.networksRepo, o.repo, o.switches, o.hostLinks, o.log, o.guestFilter);
    this.disks = new LiveDisks(this, o.disksRepo, o.repo, o.catalog, o.bus, o.log, o.paths.disks);
  }

  hasGuest(id: string): boolean {
    return this.runtimes.has(id);
  }

  // ---- queries --------------------------------------------------------------

  list(): InstanceView[] {
    return this.o.repo.all().map((r) => this.view(r));
  }

  get(name: string): InstanceView {
    return this.view(this.row(name));
  }

  counts(): { total: number; running: number } {
    const c = this.o.repo.counts();
    return { total: c.total, running: c.active };
  }

  // ---- commands -------------------------------------------------------------

  async execute(cmd: InstanceCommand): Promise<InstanceView | ActionResult | { deleted: string }> {
    switch (cmd.kind) {
      case "create":
        return this.create(cmd);
      case "delete":
        return this.delete(cmd.name, cmd.force);
      case "action":
        if (cmd.action === "upgrade") return this.upgradeAction(cmd.name, cmd.kernel!, cmd.deadlineS, cmd.timeoutS, cmd.wait);
        return this.action(cmd.name, cmd.action, cmd.timeoutS, cmd.wait, cmd.restart === true);
    }
  }

  private create(cmd: Extract<InstanceCommand, { kind: "create" }>): InstanceView {
    if (this.o.repo.byName(cmd.name)) throw new UmldError("instance_exists", `an instance named '${cmd.name}' already exists`, { name: cmd.name });
    const image = this.o.catalog.image(cmd.image);
    const kernel = this.o.catalog.kernel(cmd.kernel);
    if (cmd.diskQuotaMiB !== undefined && image.size_bytes > cmd.diskQuotaMiB * 1048576) {
      throw new UmldError("disk_quota_exceeded", `the root disk (${Math.ceil(image.size_bytes / 1048576)} MiB) is larger than diskQuotaMiB ${cmd.diskQuotaMiB}`, {
        quotaBytes: cmd.diskQuotaMiB * 1048576, usageBytes: 0, requestBytes: image.size_bytes,
      });
    }
    const id = newId();
    const dir = this.o.paths.instanceDir(id);
    const f = instanceFiles(dir);
    const revert = new Revert();
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      revert.add(() => rmSync(dir, { recursive: true, force: true }));
      prepareInstanceDir(dir, id);
      native.mkfifo(f.consoleIn, 0o600);
      native.mkfifo(f.consoleOut, 0o600);
      const cow = createCow(f.rootCow, image.path);
      const at = nowIso();
      const disk: DiskRow = {
        id: newId(), instance_id: id, slot: "ubda", kind: "cow", path: f.rootCow, backing_path: image.path,
        backing_size: cow.size, backing_mtime: cow.mtime, size_bytes: cow.size, created_at: at,
      };
      this.o.repo.insert(
        { id, name: cmd.name, memory_mib: cmd.memoryMiB, max_memory_mib: cmd.maxMemoryMiB ?? cmd.memoryMiB, disk_quota_mib: cmd.diskQuotaMiB ?? null, image_id: image.id, kernel_id: kernel.id,
          boot_options: JSON.stringify(cmd.bootOptions ?? this.lpjDefaults), created_at: at },
        [disk],
      );
      revert.add(() => this.o.repo.delete(id));
      const uid = this.o.jail.hostIds.allocate({ kind: "instance", id }); // its own host uid, for as long as it exists
      grantFile(f.rootCow, { uid, gid: uid }, 0o600);
      if (cmd.policy) this.o.repo.update(id, policyColumns(cmd.policy));
      revert.success();
      this.o.log.info({ instance: cmd.name, id, memoryMiB: cmd.memoryMiB, image: image.name }, "instance created");
      this.o.bus.publish({ type: "instance.created", instance: cmd.name, timestamp: at });
      return this.get(cmd.name);
    } catch (e) {
      void revert.fail();
      if (e instanceof UmldError) throw e;
      if ((e as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE") {
        throw new UmldError("instance_exists", `an instance named '${cmd.name}' already exists`, { name: cmd.name });
      }
      throw new UmldError("host_error", `creating instance files failed: ${(e as Error).message}`, { name: cmd.name });
    }
  }

  private async delete(name: string, force: boolean): Promise<{ deleted: string }> {
    let row = this.row(name);
    if (isActive(row.state) || this.runtimes.has(row.id)) {
      if (!force) {
        throw new UmldError("instance_running", `instance '${name}' is ${row.state}; stop it first or pass force=true`, { state: row.state });
      }
      await this.action(name, "halt", undefined, true).catch(() => {});
      row = this.row(name);
      if (isActive(row.state) || this.runtimes.has(row.id)) {
        throw new UmldError("host_error", `instance '${name}' could not be halted`, { state: row.state });
      }
    }
    const madeFor = this.snapshots.imagesOf(row.id);
    this.networks.forgetInstance(row.id);
    this.o.repo.delete(row.id);
    // only the instance's own files: its COW, console log and sockets; never the shared image
    // a root-owned tree (the guest owns only its COW file in it): nothing in it is a symlink a guest made
    rmSync(this.o.paths.instanceDir(row.id), { recursive: true, force: true });
    this.snapshots.dropImages(madeFor); // its snapshots' images and its clone base, unless something still uses them
    this.hubs.get(row.id)?.closeAll(1000, "instance deleted");
    this.hubs.delete(row.id);
    this.o.log.info({ instance: name, id: row.id }, "instance deleted");
    this.o.bus.publish({ type: "instance.deleted", instance: name, timestamp: nowIso() });
    return { deleted: name };
  }

  private async action(name: string, action: Exclude<InstanceAction, "upgrade">, timeoutS: number | undefined, wait: boolean, byPolicy = false): Promise<ActionResult> {
    const row = this.row(name);
    // halt may overtake a running action (e.g. a shutdown waiting on a stuck guest)
    const busy = this.busyWith(row);
    if (busy && action !== "halt") {
      throw new UmldError("instance_busy", `'${busy}' is still running on '${name}'`, { busy, action });
    }
    transition(row.state, action); // validates: 409 naming both when not allowed
    if (action === "start" && !byPolicy && (row.flag || row.crash_streak)) this.o.repo.update(row.id, { flag: null, crash_streak: 0 });
    if (action === "start" && row.stopped_by_host) this.o.repo.update(row.id, { stopped_by_host: 0 }); // a write (an fsync) only when it changes
    if (action === "start" && row.staged_kernel_id) {
      // a staged kernel boots with the upgrade's safety net: rolled back if it fails
      return this.upgradeAction(name, this.o.catalog.kernelById(row.staged_kernel_id)!.name, undefined, timeoutS, wait);
    }
    if (action === "start") {
      this.checkDisks(row);
      this.pendingStarts.add(row.id);
    }
    const timeoutMs = (timeoutS ?? DEFAULT_ACTION_TIMEOUT_S[action]) * 1000;
    return this.operation(`instance.${action}`, name, wait, () => this.runAction(row, action, timeoutMs));
  }

  /** Runs `work` as an operation; waits for it (failures become the operation's error) unless wait is false. */
  private async operation(kind: string, name: string, wait: boolean, work: () => Promise<unknown>): Promise<ActionResult> {
    const op = this.o.operations.begin(kind, name);
    const run = work().then(
      (result) => this.o.operations.succeed(op.id, result ?? null),
      (e) => this.o.operations.fail(op.id, e),
    );
    if (!wait) return { operation: op, instance: this.get(name) };
    const done = await run;
    if (done.status === "failed" && done.error) {
      throw new UmldError(done.error.code as UmldError["code"], done.error.message, { ...(asObject(done.error.details)), operation: done.id });
    }
    return { operation: done, instance: this.get(name) };
  }

  private busyWith(row: InstanceRow): string | null {
    return this.runtimes.get(row.id)?.busy ?? (this.upgrading.has(row.id) ? "upgrade" : this.pendingStarts.has(row.id) ? "start" : null);
  }

  // ---- steps the kernel upgrades are made of (kernel-upgrades.ts) ---------------------

  /** @internal */ busyWithName(name: string): string | null {
    return this.busyWith(this.row(name));
  }
  /** @internal */ checkDisksOf(name: string): void {
    this.checkDisks(this.row(name));
  }
  /** @internal */ markUpgrading(name: string, on: boolean): void {
    const id = this.row(name).id;
    if (on) this.upgrading.add(id);
    else this.upgrading.delete(id);
  }
  /** @internal */ runOperation(kind: string, name: string, wait: boolean, work: () => Promise<unknown>): Promise<ActionResult> {
    return this.operation(kind, name, wait, work);
  }
  /** @internal */ async stopGuest(name: string, how: "shutdown" | "halt", timeoutMs: number): Promise<void> {
    const row = this.row(name);
    if (this.runtimes.has(row.id)) await this.runAction(row, how, timeoutMs);
  }
  /** @internal */ async startGuest(name: string, timeoutMs: number): Promise<void> {
    const row = this.row(name);
    this.pendingStarts.add(row.id);
    await this.runAction(row, "start", timeoutMs);
  }

  private upgradeAction(name: string, kernelName: string, deadlineS: number | undefined, timeoutS: number | undefined, wait: boolean): Promise<ActionResult> {
    return this.upgrades.upgrade(name, kernelName, deadlineS, timeoutS, wait);
  }

  rollout(kernelName: string, sel: { instances?: string[]; kernel?: string; image?: string }, batchSize: number, deadlineS: number | undefined, wait: boolean) {
    return this.upgrades.rollout(kernelName, sel, batchSize, deadlineS, wait);
  }

  /** What is wrong with the instance's files now: a record never points at a missing file without saying so. */
  problems(r: InstanceRow): string[] {
    const out: string[] = [];
    const refused = (JSON.parse(r.boot_options) as string[]).filter((o) => bootOptionProblem(o) !== null);
    if (refused.length) out.push(`boot options no longer allowed, left out at boot: ${refused.map((o) => o.split("=")[0]).join(", ")}`);
    for (const d of this.o.repo.disks(r.id)) {
      if (!existsSync(d.path)) out.push(`disk ${d.slot}: ${d.path} is missing`);
      else if (d.kind === "cow") {
        const c = checkCow(d.path, recordOf(d)); // the record, never the guest-written header; no size or mtime in the reason
        if (!c.ok) out.push(`disk ${d.slot}: ${c.reason}`);
      }
    }
    return out;
  }

  /** A host directory an admin may give a guest's hostfs: an existing directory, never umld's own state. */
  private grantableDir(dir: string): string {
    let real: string;
    try {
      real = realpathSync(dir);
    } catch {
      throw new UmldError("invalid_request", `hostfsDir ${dir} does not exist`, { hostfsDir: dir });
    }
    if (!statSync(real).isDirectory()) throw new UmldError("invalid_request", `hostfsDir ${dir} is not a directory`, { hostfsDir: dir });
    const state = realpathSync(this.o.paths.root);
    if (real === "/" || real === state || real.startsWith(state + "/") || state.startsWith(real + "/")) {
      throw new UmldError("invalid_request", `hostfsDir may not be / nor hold or be inside umld's state directory`, { hostfsDir: dir });
    }
    if (/[,:\s=]/.test(real)) throw new UmldError("invalid_request", `hostfsDir resolves to a path UML cannot take: ${real}`, { hostfsDir: dir });
    return real;
  }

  /** The instance's writable layers (root COW, read-write data disks): what they may grow to and use now. */
  diskUsage(r: InstanceRow): InstanceView["diskUsage"] {
    const root = this.o.repo.disks(r.id);
    const data = this.disks.writableOf(r.id);
    const virtualBytes = root.reduce((n, d) => n + d.size_bytes, 0) + data.reduce((n, d) => n + d.size_bytes, 0);
    const used = root.reduce((n, d) => n + allocatedBytes(d.path), 0) + data.reduce((n, d) => n + allocatedBytes(d.path), 0);
    const quotaBytes = r.disk_quota_mib === null ? null : r.disk_quota_mib * 1048576;
    return { quotaBytes, virtualBytes, allocatedBytes: used, exceeded: quotaBytes !== null && used > quotaBytes };
  }

  /** Every COW whose backing is this file: root disks and data disks. */
  cowsOn(path: string): Array<{ disk: string; path: string }> {
    return this.disks.list().filter((d) => d.kind === "cow" && d.backingPath === path).map((d) => ({ disk: d.name, path: d.path }));
  }

  /** What is layered on a file: instances whose root COW sits on it, and data disks (as disk:<name>). */
  layersOn(path: string): string[] {
    const instances = this.o.repo.all().filter((r) => this.o.repo.disks(r.id).some((d) => d.backing_path === path)).map((r) => r.name);
    return [...instances, ...this.disks.onBacking(path).map((n) => `disk:${n}`)];
  }

  /** Instances that boot, run or have staged this kernel. */
  kernelUsers(kernelId: string): string[] {
    return this.o.repo.all()
      .filter((r) => r.kernel_id === kernelId || r.staged_kernel_id === kernelId || r.booted_kernel_id === kernelId)
      .map((r) => r.name);
  }

  // ---- live changes ------------------------------------------------------------------

  /** PATCH: validates everything first, then stages the boot size or kernel, then changes memory live. */
  async patch(name: string, req: { memoryMiB?: number; maxMemoryMiB?: number; kernel?: string | null; diskQuotaMiB?: number | null; hostfsDir?: string | null } & PolicyInput) {
    const row = this.row(name);
    const stopped = row.state === "stopped" || row.state === "crashed";
    if (req.maxMemoryMiB !== undefined && !stopped) {
      throw new UmldError("invalid_state", `maxMemoryMiB (the boot size) changes only while the instance is stopped; it is ${row.state}`, { state: row.state, action: "set-max-memory" });
    }
    const max = req.maxMemoryMiB ?? row.max_memory_mib;
    const target = req.memoryMiB ?? Math.min(row.memory_mib, max);
    if (target > max) {
      throw new UmldError("memory_above_max", `memoryMiB ${target} is above maxMemoryMiB ${max} (the boot size)`, { memoryMiB: target, maxMemoryMiB: max });
    }
    const kernel = req.kernel ? this.o.catalog.kernel(req.kernel) : null;
    if (req.memoryMiB !== undefined && !stopped && row.state !== "running") {
      throw new UmldError("invalid_state", `cannot change the memory of an instance that is ${row.state}`, { state: row.state, action: "set-memory" });
    }
    if (req.maxMemoryMiB !== undefined) this.o.repo.update(row.id, { max_memory_mib: max, memory_mib: target });
    if (req.diskQuotaMiB !== undefined) this.o.repo.update(row.id, { disk_quota_mib: req.diskQuotaMiB });
    if (req.hostfsDir !== undefined) this.o.repo.update(row.id, { hostfs_dir: req.hostfsDir === null ? null : this.grantableDir(req.hostfsDir) });
    this.o.repo.update(row.id, policyColumns(req));
    if (req.hangTimeoutS !== undefined) this.runtimes.get(row.id)?.host.setWatchdog(req.hangTimeoutS * 1000);
    if (req.kernel !== undefined) {
      this.o.repo.update(row.id, { staged_kernel_id: kernel?.id ?? null });
      if (kernel) {
        const from = this.o.catalog.kernelById(row.booted_kernel_id ?? row.kernel_id)?.name ?? "?";
        this.o.bus.publish({ type: "instance.upgrade", instance: name, from, to: kernel.name, status: "staged", reason: null, timestamp: nowIso() });
      }
    }
    const memory = req.memoryMiB !== undefined ? await this.memory.set(name, req.memoryMiB) : null;
    return { instance: this.get(name), memory };
  }

  /** Admin mconsole passthrough (see guest-access.ts). */
  passthrough(name: string, req: z.output<typeof MconsoleRequest>): Promise<{ command: string; reply: string }> {
    return passthrough((cmd, t) => this.mconsole(name, cmd, t), req, this.o.log.child({ instance: name }));
  }

  /** Agentless guest facts (see guest-access.ts). */
  guestFacts(name: string): Promise<GuestFacts> {
    return guestFacts((cmd) => this.mconsole(name, cmd));
  }

  private async runAction(row: InstanceRow, action: Exclude<InstanceAction, "upgrade">, timeoutMs: number): Promise<void> {
    if (action === "start") return this.start(row, timeoutMs);
    const rt = this.runtimes.get(row.id);
    if (!rt) throw new UmldError("invalid_state", `instance '${row.name}' has no running guest`, { state: row.state, action });
    const previousBusy = rt.busy;
    if (action !== "halt" || !rt.busy) rt.busy = action;
    try {
      switch (action) {
        case "shutdown":
        case "halt": {
          this.applyEvent(row.id, action, action === "halt" ? "halt requested" : "shutdown requested (ctrl-alt-del)");
          const exited = this.waitFact(row.id, (f) => f === "exited", timeoutMs + 15_000);
          await rt.host.action(action, timeoutMs);
          await exited;
          return;
        }
        case "reboot": {
          const booted = this.waitFact(row.id, (f) => f === "booted" || f === "exited", timeoutMs);
          // the process ends and the supervisor starts a fresh one (onWorker "rebooting", "respawned")
          await rt.host.action("reboot", timeoutMs);
          this.applyEvent(row.id, "reboot", "reboot requested", { ready: false, bootCountIncrement: true });
          await this.expectBoot(row, booted, timeoutMs);
          return;
        }
        case "pause":
          await rt.host.action("pause", timeoutMs);
          this.applyEvent(row.id, "pause", "paused (mconsole stop)");
          return;
        case "resume":
          await rt.host.action("resume", timeoutMs);
          this.applyEvent(row.id, "resume", "resumed (mconsole go)");
          return;
      }
    } finally {
      if (this.runtimes.get(row.id) === rt) rt.busy = action === "halt" ? null : previousBusy;
    }
  }

  private checkDisks(row: InstanceRow): void {
    for (const d of this.o.repo.disks(row.id)) {
      if (d.kind !== "cow") continue;
      const c = checkCow(d.path, recordOf(d));
      if (!c.ok) {
        throw new UmldError("disk_backing_changed", `disk ${d.slot} cannot be used: ${c.reason}`, { slot: d.slot, cow: d.path, backing: d.backing_path });
      }
    }
  }

  private bootSpec(row: InstanceRow): WorkerBootSpec {
    const kernel = this.o.catalog.kernelById(row.kernel_id)!;
    const image = this.o.catalog.imageById(row.image_id)!;
    const root = this.o.repo.disks(row.id).find((d) => d.slot === "ubda");
    if (!root) throw new UmldError("host_error", `instance '${row.name}' has no root disk`);
    const needs = this.networks.jailNeeds(row.id);
    let kernelFiles: JailFile[];
    try {
      kernelFiles = binaryFiles(kernel.path);
    } catch (e) {
      throw new UmldError("host_error", `kernel '${kernel.name}' cannot run in a jail: ${(e as Error).message}`, { kernel: kernel.name });
    }
    const inputs: BootInputs = {
      paths: this.o.paths,
      launcher: this.o.jail.launcher,
      cgroups: this.o.jail.cgroups,
      identity: this.identityOfRow(row),
      kernel: { path: kernel.path, files: kernelFiles },
      rootCow: root.path,
      rootBacking: root.backing_path ?? image.path,
      dataDisks: this.disks.jailFiles(row.id),
      devices: [...this.disks.bootArgs(row.id), ...this.networks.bootArgs(row.id)],
      tun: needs.tun,
      extraFiles: needs.files,
      maxProcesses: this.o.jail.maxProcesses,
      scrollbackBytes: this.scrollbackBytes,
      consoleLogMaxBytes: this.consoleLogMaxBytes,
    };
    return bootSpec(row, inputs);
  }

  /** A worker attached to this instance, its messages routed to the manager. */
  private attachRuntime(row: InstanceRow, host: SupervisorHost, busy: InstanceAction | null): Runtime {
    const log = this.o.log.child({ instance: row.name, instanceId: row.id });
    const rt: Runtime = { host, busy, log, jail: new Set() };
    this.runtimes.set(row.id, rt);
    this.hub(row.id).resetOffsets();
    host.on("message", (m) => this.onWorker(row.id, rt, m));
    host.on("gone", (g) => this.onWorkerGone(row.id, rt, g.error));
    return rt;
  }

  /** The host identity of an instance's processes: its own uid and gid, and the groups it reads its images through. */
  identityOf(instanceName: string): GuestIdentity {
    return this.identityOfRow(this.row(instanceName));
  }

  private identityOfRow(row: InstanceRow): GuestIdentity {
    if (row.host_uid === null) throw new UmldError("host_error", `instance '${row.name}' has no host uid yet`);
    const range = this.o.jail.hostIds.range;
    const owner = this.o.jail.tenantGid(row.name) ?? adminGid(range);
    // and the group its root image is read through (an admin may give a tenant's guest an image of its own)
    const image = this.o.catalog.imageById(row.image_id);
    const groups = [sharedGid(range), owner, ...(image ? [imageGid(image.owner, image.shared === 1)] : [])];
    return { uid: row.host_uid, gid: row.host_uid, groups: [...new Set(groups.filter((g) => g > 0))] };
  }

  /**
   * Makes files reachable in a running guest's jail (a hot-plugged disk and
   * its backing, /dev/net/tun for a TAP, slirp) or takes them away (a
   * detached disk). Does nothing for a stopped guest: its next boot's jail
   * is made from the records.
   */
  async jailChange(id: string, change: Omit<JailChange, "pid">): Promise<void> {
    const rt = this.runtimes.get(id);
    if (!rt) return;
    const add: Omit<JailChange, "pid"> = {
      readOnly: change.readOnly.filter((f) => !rt.jail.has(f.at)),
      readWrite: change.readWrite.filter((p) => !rt.jail.has(p)),
      devices: change.devices.filter((p) => !rt.jail.has(p)),
      remove: change.remove.filter((p) => rt.jail.has(p)),
    };
    if (!add.readOnly.length && !add.readWrite.length && !add.devices.length && !add.remove.length) return;
    await rt.host.changeJail(add);
    for (const f of add.readOnly) rt.jail.add(f.at);
    for (const p of [...add.readWrite, ...add.devices]) rt.jail.add(p);
    for (const p of add.remove) rt.jail.delete(p);
  }

  private async start(row: InstanceRow, timeoutMs: number): Promise<void> {
    let spec: WorkerBootSpec;
    try {
      spec = this.bootSpec(row);
      prepareInstanceDir(this.o.paths.instanceDir(row.id), row.id);
      const root = this.o.repo.disks(row.id).find((d) => d.slot === "ubda")!;
      grantFile(root.path, spec.guest, 0o600);
      this.disks.grantAll(row.id, spec.guest, this.identityOfRow(row).groups[1]!);
    } catch (e) {
      this.pendingStarts.delete(row.id);
      throw e;
    }
    let host: SupervisorHost;
    try {
      await this.networks.switchesReady(row.id); // a NIC that connects before its switch listens would be dead
      host = await this.o.pool.take();
    } finally {
      this.pendingStarts.delete(row.id);
    }
    const rt = this.attachRuntime(row, host, "start");
    this.recordJail(rt, spec);
    try {
      const spawned = this.waitFact(row.id, (f) => f === "spawned" || f === "fatal", 10_000);
      const booted = this.waitFact(row.id, (f) => f === "booted" || f === "exited" || f === "fatal", timeoutMs);
      host.boot(spec);
      const first = await spawned;
      if (first.fact === "fatal") throw fatalError(first.m);
      await this.expectBoot(row, booted, timeoutMs);
    } finally {
      if (this.runtimes.get(row.id) === rt) rt.busy = null;
    }
  }

  /** Waits for the kernel to come up and, for images that signal it, for the guest to be ready. */
  private async expectBoot(row: InstanceRow, booted: Promise<{ fact: Fact; m?: FromWorker }>, timeoutMs: number): Promise<void> {
    const image = this.o.catalog.imageById(row.image_id);
    const ready = this.waitFact(row.id, (f) => f === "ready" || f === "exited", timeoutMs);
    const b = await booted;
    if (b.fact === "fatal") throw fatalError(b.m);
    if (b.fact === "exited") throw bootFailed(row.name, b.m);
    if (image?.readiness !== "notify") return;
    if (this.o.repo.byId(row.id)?.ready) return;
    const r = await ready.catch((e) => {
      throw new UmldError("action_timeout", `guest '${row.name}' booted but did not signal readiness within ${Math.round(timeoutMs / 1000)} s`, asObject((e as UmldError).details));
    });
    if (r.fact === "exited") throw bootFailed(row.name, r.m);
  }

  // ---- worker facts ------------------------------------------------------------

  private onWorker(id: string, rt: Runtime, m: FromWorker): void {
    if (this.runtimes.get(id) !== rt) return;
    switch (m.t) {
      case "spawned":
        this.applyEvent(id, "start", "guest process started", {
          pid: m.pid, startedAt: new Date(m.at).toISOString(), ready: false, bootCountIncrement: true,
        });
        this.o.repo.update(id, { booted_kernel_id: this.o.repo.byId(id)!.kernel_id, unplugged_mib: 0 });
        rt.log.info({ pid: m.pid }, "UML process spawned");
        break;
      case "rebooting": {
        // a reboot is a new process, booted from the instance's spec as of now (what was plugged or unplugged since)
        const row = this.o.repo.byId(id);
        if (!row) return rt.host.respawn(null, "the instance is gone");
        try {
          const spec = this.bootSpec(row);
          rt.jail.clear();
          this.recordJail(rt, spec);
          rt.host.respawn(spec);
        } catch (e) {
          rt.host.respawn(null, (e as Error).message);
        }
        return;
      }
      case "respawned":
        this.o.repo.update(id, { pid: m.pid });
        rt.log.info({ pid: m.pid }, "guest rebooted: a fresh UML process");
        return;
      case "adopted": {
        rt.log.info({ pid: m.pid, mconsole: m.mconsole }, "guest re-adopted after a daemon restart");
        if (m.mconsole) void this.channels.configureAll(id, rt.host, rt.log);
        const state = this.o.repo.byId(id)?.state;
        if (state === "starting" && m.mconsole) this.applyEvent(id, "booted", "re-adopted: kernel up, mconsole answers");
        if (state === "stopping") void this.action(this.o.repo.byId(id)!.name, "halt", undefined, true).catch(() => {});
        break;
      }
      case "booted": {
        const booted = this.o.repo.byId(id);
        if (booted && this.o.catalog.imageById(booted.image_id)?.readiness !== "notify") {
          // no readiness signal will come: give the drivers a moment, then channels and disks
          setTimeout(() => {
            if (this.runtimes.get(id) !== rt) return;
            void this.channels.configureAll(id, rt.host, rt.log);
            void this.disks.afterBoot(booted.name).catch(() => {});
          }, 2000).unref();
        }
        const state = booted?.state;
        if (state === "starting") this.applyEvent(id, "booted", "kernel up, mconsole ready");
        else if (state === "running") this.applyEvent(id, "guest_reboot", "guest rebooted itself", { ready: false, bootCountIncrement: true });
        break;
      }
      case "ready": {
        const row = this.o.repo.byId(id);
        if (row) {
          this.o.repo.setReady(id, true, nowIso());
          rt.log.info({ bootMs: m.bootMs, via: m.via }, "guest ready");
          this.o.bus.publish({ type: "instance.ready", instance: row.name, bootMs: m.bootMs, timestamp: nowIso() });
          // channels once the kernel's drivers are up (at the SOCKET notification the serial
          // driver may not have applied its command line yet); a reboot restarts the kernel
          // with its original command line and all its memory
          void this.channels.configureAll(id, rt.host, rt.log);
          void this.disks.afterBoot(row.name).then(() => this.networks.afterBoot(row.name)).then(() => this.memory.afterBoot(row.name)).catch((e) =>
            rt.log.warn({ err: (e as Error).message }, "re-applying disks and memory after boot failed"),
          );
        }
        break;
      }
      case "console":
        this.hub(id).broadcast(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength), m.offset);
        return; // not a fact: no waiter cares, keep the hot path short
      case "channel-data":
        this.hub(id, m.channel).broadcast(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength), m.offset);
        return;
      case "panic":
        rt.log.error({ panic: m.message }, "guest kernel panic");
        break;
      case "hang":
        this.policies.onHang(id, { sinceS: m.sinceS, probe: m.probe, source: m.source });
        break;
      case "exited":
        this.onExited(id, rt, m);
        break;
      case "log":
        rt.log[m.level](m.fields ?? {}, m.msg);
        return;
      case "fatal":
        rt.log.error({ error: m.error }, "supervisor could not run the guest");
        this.runtimes.delete(id);
        void rt.host.terminate();
        break;
    }
    const fact = m.t === "fatal" ? "fatal" : m.t;
    if (fact === "spawned" || fact === "booted" || fact === "ready" || fact === "exited" || fact === "fatal") this.notifyFact(id, fact, m);
  }

  private onExited(id: string, rt: Runtime, m: Extract<FromWorker, { t: "exited" }>): void {
    const exit = { code: m.code, signal: m.signal, reason: m.reason };
    const startedAt = this.o.repo.byId(id)?.started_at;
    const upS = startedAt ? (Date.now() - Date.parse(startedAt)) / 1000 : 0;
    const level = m.requested ? "info" : "error";
    rt.log[level]({ code: m.code, signal: m.signal, reason: m.reason }, "UML process exited");
    this.runtimes.delete(id);
    this.o.repo.update(id, { booted_kernel_id: null, unplugged_mib: 0 });
    this.applyEvent(id, m.requested ? "exited" : "crashed", m.reason, { pid: null, ready: false, exit, startedAt: null });
    setTimeout(() => void rt.host.terminate(), 200).unref();
    this.policies.afterExit(id, m.requested, m.reason, upS);
  }

  private onWorkerGone(id: string, rt: Runtime, error?: Error): void {
    if (this.runtimes.get(id) !== rt) return;
    this.runtimes.delete(id);
    const row = this.o.repo.byId(id);
    rt.log.error({ error: error?.message }, "supervisor worker died; killing its guest so it is not left unmanaged");
    if (row?.pid) {
      try {
        process.kill(-row.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    const reason = `supervisor worker died${error ? `: ${error.message}` : ""}`;
    if (row && isActive(row.state)) {
      this.applyEvent(id, "crashed", reason, { pid: null, ready: false, exit: { code: null, signal: "SIGKILL", reason }, startedAt: null });
    }
    this.notifyFact(id, "exited", { t: "exited", code: null, signal: "SIGKILL", reason, requested: false });
  }

  /** Validates against the lifecycle table, persists (one transaction), then announces. */
  private applyEvent(id: string, event: LifecycleEvent, reason: string, extra: Omit<StateChange, "state" | "reason" | "at"> = {}): InstanceState | null {
    const row = this.o.repo.byId(id);
    if (!row) return null;
    let to: InstanceState;
    try {
      to = transition(row.state, event);
    } catch {
      this.o.log.warn({ instance: row.name, state: row.state, event }, "ignored lifecycle event not valid in this state");
      return null;
    }
    const at = nowIso();
    this.o.repo.changeState(id, row.state, { state: to, reason, at, ...extra });
    this.o.log.info({ instance: row.name, instanceId: id, from: row.state, to, reason }, "state change");
    this.o.bus.publish({ type: "instance.state", instance: row.name, from: row.state, to, reason, timestamp: at });
    return to;
  }

  /**
   * Waits for a worker fact. Callers often start several waits and give up on
   * the rest when one fails, so a wait never raises an unhandled rejection:
   * only whoever awaits it sees its timeout.
   */
  private waitFact(id: string, match: (f: Fact) => boolean, timeoutMs: number): Promise<{ fact: Fact; m?: FromWorker }> {
    const p = this.newFactWait(id, match, timeoutMs);
    p.catch(() => {});
    return p;
  }

  private newFactWait(id: string, match: (f: Fact) => boolean, timeoutMs: number): Promise<{ fact: Fact; m?: FromWorker }> {
    return new Promise((resolve, reject) => {
      const set = this.factWaiters.get(id) ?? new Set();
      this.factWaiters.set(id, set);
      const timer = setTimeout(() => {
        set.delete(waiter);
        reject(new UmldError("action_timeout", `timed out after ${Math.round(timeoutMs / 1000)} s`, { timeoutS: timeoutMs / 1000 }));
      }, timeoutMs);
      const waiter = (fact: Fact, m?: FromWorker) => {
        if (!match(fact)) return;
        clearTimeout(timer);
        set.delete(waiter);
        resolve({ fact, m });
      };
      set.add(waiter);
    });
  }

  private notifyFact(id: string, fact: Fact, m?: FromWorker): void {
    for (const w of [...(this.factWaiters.get(id) ?? [])]) w(fact, m);
  }

  /** A raw mconsole command to a running guest, answered by its kernel (multi-part replies joined). */
  async mconsole(name: string, command: string, timeoutMs = 5000): Promise<string> {
    const row = this.row(name);
    const rt = this.runtimes.get(row.id);
    if (!rt) throw new UmldError("invalid_state", `instance '${name}' is ${row.state}: no guest to ask`, { state: row.state, action: "mconsole" });
    return rt.host.mconsole(command, timeoutMs);
  }

  // ---- consoles -------------------------------------------------------------------

  /**
   * Attaches a viewer to the main console or to an extra channel (ssl0, con1…);
   * returns the function that detaches it and the one that types into it.
   */
  /** `input` resolves false when the guest is not reading and the input was dropped (the writer should stop). */
  attachConsole(name: string, viewer: ConsoleViewer, replay = true, channel?: string): { detach: () => void; input: (data: Buffer) => Promise<boolean> } {
    const row = this.row(name);
    if (channel !== undefined) this.channels.mustHave(row, channel);
    const rt = this.runtimes.get(row.id);
    const toBuf = (s: { data: Uint8Array; end: number }) => ({ data: Buffer.from(s.data.buffer, s.data.byteOffset, s.data.byteLength), end: s.end });
    let scrollback: Promise<{ data: Buffer; end: number } | null>;
    if (!replay) scrollback = Promise.resolve(null);
    else if (rt && channel) scrollback = rt.host.channelScrollback(channel).then(toBuf);
    else if (rt) scrollback = rt.host.scrollback().then(toBuf);
    else if (channel) scrollback = Promise.resolve(null);
    else scrollback = Promise.resolve({ data: readLogTail(instanceFiles(this.o.paths.instanceDir(row.id)).consoleLog, this.scrollbackBytes), end: -1 });
    const detach = this.hub(row.id, channel).attach(viewer, scrollback);
    return {
      detach,
      input: (data: Buffer) => {
        const host = this.runtimes.get(row.id)?.host;
        if (!host) return Promise.resolve(true); // not running: typed into nothing, as on a real serial line
        return channel ? host.channelInput(channel, data) : host.consoleInput(data);
      },
    };
  }

  listChannels(name: string): ChannelView[] {
    return this.channels.list(this.row(name));
  }

  addChannel(name: string, channel: string): Promise<ChannelView> {
    const row = this.row(name);
    return this.channels.add(row, channel, this.runtimes.get(row.id)?.host);
  }

  async removeChannel(name: string, channel: string): Promise<{ removed: string }> {
    const row = this.row(name);
    await this.channels.remove(row, channel, this.runtimes.get(row.id)?.host);
    this.hubs.get(`${row.id}:${channel}`)?.closeAll(1000, "channel removed");
    this.hubs.delete(`${row.id}:${channel}`);
    return { removed: channel };
  }

  private hub(id: string, channel?: string): ConsoleHub {
    const key = channel ? `${id}:${channel}` : id;
    let h = this.hubs.get(key);
    if (!h) {
      h = new ConsoleHub();
      this.hubs.set(key, h);
    }
    return h;
  }

  // ---- daemon start and stop -------------------------------------------------------

  /**
   * At daemon start: instances recorded as active whose process is gone are
   * marked crashed ("exited while daemon was down"); live ones are adopted by
   * a new worker (same FIFOs, sockets and pid), so guests outlive the daemon.
   */
  async reconcileAtStart(): Promise<{ crashed: string[]; adopted: string[]; removed: string[]; orphans: number[] }> {
    const crashed: string[] = [];
    const adopted: string[] = [];
    const removed = this.sweepFiles();
    const orphans = this.orphanProcesses();
    if (orphans.length) this.o.log.warn({ pids: orphans }, "UML processes from this state dir that no instance owns: reported, not killed");
    const live = this.liveGuests();
    for (const row of this.o.repo.all()) {
      const found = live.get(row.id);
      if (!isActive(row.state)) {
        // spawned, but the daemon died before it recorded that: ours, adopt it (never start it twice)
        if (found === undefined) continue;
        this.applyEvent(row.id, "start", "found running after a daemon crash", { pid: found.pid, startedAt: nowIso(), ready: false, bootCountIncrement: true });
        this.applyEvent(row.id, "booted", "found running after a daemon crash");
        row.pid = found.pid;
        row.state = "running";
      }
      if (row.pid && found?.pid === row.pid) {
        try {
          if (found.legacy) this.o.log.warn({ instance: row.name, pid: row.pid }, "adopting a guest started before guests were jailed: restart it to jail it");
          const boot = this.bootSpec(row);
          const spec = { ...boot, mconsoleInJail: found.mconsole, adopt: { pid: row.pid, paused: row.state === "paused", legacy: found.legacy } };
          const rt = this.attachRuntime(row, await this.o.pool.take(), null);
          this.recordJail(rt, boot);
          rt.host.boot(spec);
          adopted.push(row.name);
          continue;
        } catch (e) {
          this.o.log.error({ instance: row.name, err: e }, "could not adopt a running guest");
          continue;
        }
      }
      const reason = "exited while daemon was down";
      this.applyEvent(row.id, "crashed", reason, { pid: null, ready: false, startedAt: null, exit: { code: null, signal: null, reason } });
      crashed.push(row.name);
      this.policies.afterExit(row.id, false, reason, CRASH_WINDOW_S);
    }
    return { crashed, adopted, removed, orphans };
  }

  /** What an interrupted daemon left in the state dir, removed (see reconcile.ts). */
  private sweepFiles(): string[] {
    const removed = sweepStateFiles(this.o.paths, {
      instances: new Set(this.o.repo.all().map((r) => r.id)),
      images: new Set(this.o.catalog.listImages().map((i) => i.path)),
      disks: new Set(this.disks.list().map((d) => d.path)),
    });
    if (removed.length) this.o.log.warn({ removed }, "removed what an interrupted daemon left behind");
    return removed;
  }

  /** Live guests of this state dir whose process runs as their instance's uid (or an unjailed legacy guest). */
  private liveGuests(): Map<string, LiveGuest> {
    const uids = new Map(this.o.repo.all().map((r) => [r.id, r.host_uid]));
    return liveGuestProcesses(this.o.paths, (umid) => uids.get(umid) ?? null);
  }

  /** Live UML processes started from this state dir whose umid no instance has. */
  private orphanProcesses(): number[] {
    const known = new Set(this.o.repo.all().map((r) => r.id));
    return [...liveGuestProcesses(this.o.paths, () => null)].filter(([umid]) => !known.has(umid)).map(([, g]) => g.pid);
  }

  /** What a guest's jail holds from its boot (so a hot-plug adds only what is missing). */
  private recordJail(rt: Runtime, spec: WorkerBootSpec): void {
    for (const p of spec.jailHolds) rt.jail.add(p);
  }

  /** Daemon stop: release every guest without stopping it. */
  async detachAll(): Promise<void> {
    // forget them first: a worker that ends now is released, not "died" (which would kill its guest)
    const released = [...this.runtimes.values()];
    this.runtimes.clear();
    await Promise.all(released.map(async (rt) => {
      await rt.host.detach();
      await rt.host.terminate();
    }));
    for (const h of this.hubs.values()) h.closeAll(1001, "daemon stopping");
  }

  /** Starts the instances marked autostart (after reconcileAtStart). */
  autostart(): string[] {
    return this.policies.autostartAll(this.o.repo.all());
  }

  /** Host shutdown: graceful shutdown of every guest within the deadline, then halt. */
  shutdownGuests(deadlineS: number): Promise<{ shutDown: string[]; halted: string[] }> {
    return this.policies.shutdownAll(this.o.repo.all(), deadlineS);
  }

  /** Halts every guest (tests, and the explicit host-shutdown path). */
  async haltAll(): Promise<void> {
    await Promise.all(this.o.repo.all().filter((r) => this.runtimes.has(r.id)).map((r) => this.action(r.name, "halt", undefined, true).catch(() => {})));
  }

  // ---- helpers -----------------------------------------------------------------------

  row(name: string): InstanceRow {
    const row = this.o.repo.byName(name);
    if (!row) throw new UmldError("instance_not_found", `no instance named '${name}'`, { name });
    return row;
  }

  private view(r: InstanceRow): InstanceView {
    const kernel = this.o.catalog.kernelById(r.kernel_id);
    const image = this.o.catalog.imageById(r.image_id);
    const rt = this.runtimes.get(r.id);
    return {
      name: r.name,
      id: r.id,
      state: r.state,
      ready: r.ready === 1,
      pid: r.pid,
      hostfsDir: r.hostfs_dir,
      memoryMiB: r.memory_mib,
      maxMemoryMiB: r.max_memory_mib,
      unpluggedMiB: r.unplugged_mib,
      kernel: kernel?.name ?? "?",
      bootedKernel: r.booted_kernel_id ? (this.o.catalog.kernelById(r.booted_kernel_id)?.name ?? "?") : null,
      stagedKernel: r.staged_kernel_id ? (this.o.catalog.kernelById(r.staged_kernel_id)?.name ?? "?") : null,
      image: image?.name ?? "?",
      bootOptions: JSON.parse(r.boot_options) as string[],
      disks: this.o.repo.disks(r.id).map((d) => ({
        slot: d.slot, kind: d.kind, path: d.path, backingPath: d.backing_path, backingSizeBytes: d.backing_size,
        backingMtime: d.backing_mtime, sizeBytes: d.size_bytes, allocatedBytes: allocatedBytes(d.path),
      })),
      attachments: this.disks.attachmentsOf(r.id),
      nics: this.networks.nicsOf(r.id),
      diskUsage: this.diskUsage(r),
      uptime: r.started_at && isActive(r.state) ? Math.max(0, (Date.now() - Date.parse(r.started_at)) / 1000) : null,
      bootCount: r.boot_count,
      lastExit: r.last_exit_reason && r.last_exit_at
        ? { code: r.last_exit_code, signal: r.last_exit_signal, reason: r.last_exit_reason, at: r.last_exit_at }
        : null,
      createdAt: r.created_at,
      busy: rt?.busy ?? null,
      policy: {
        autostart: r.autostart === 1, autostartOrder: r.autostart_order, autostartDelayS: r.autostart_delay_s,
        restartPolicy: r.restart_policy, hangTimeoutS: r.hang_timeout_s, onHang: r.on_hang,
      },
      crashStreak: r.crash_streak,
      flag: r.flag,
      problems: this.problems(r),
    };
  }
}


function fatalError(m?: FromWorker): UmldError {
  if (m?.t === "fatal") return UmldError.fromPlain(m.error);
  return new UmldError("host_error", "the supervisor could not start the guest");
}

function bootFailed(name: string, m?: FromWorker): UmldError {
  const exit = m?.t === "exited" ? { code: m.code, signal: m.signal, reason: m.reason } : undefined;
  return new UmldError("boot_failed", `guest '${name}' exited before it was ready${exit ? `: ${exit.reason}` : ""}`, { exit });
}


/** Policy fields (protocol names) to columns. */
function policyColumns(p: PolicyInput) {
  const c: Partial<Pick<InstanceRow, "autostart" | "autostart_order" | "autostart_delay_s" | "restart_policy" | "hang_timeout_s" | "on_hang">> = {};
  if (p.autostart !== undefined) c.autostart = p.autostart ? 1 : 0;
  if (p.autostartOrder !== undefined) c.autostart_order = p.autostartOrder;
  if (p.autostartDelayS !== undefined) c.autostart_delay_s = p.autostartDelayS;
  if (p.restartPolicy !== undefined) c.restart_policy = p.restartPolicy;
  if (p.hangTimeoutS !== undefined) c.hang_timeout_s = p.hangTimeoutS;
  if (p.onHang !== undefined) c.on_hang = p.onHang;
  return c;
}
