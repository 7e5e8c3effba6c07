import type { Logger } from "pino";
import type { InstanceAction, InstanceView } from "../../protocol/instances.js";
import type { ActionResult } from "../../protocol/operations.js";
import type { EventBus } from "../events/bus.js";
import type { GuestIdentity } from "../guest/identity.js";
import type { GuestFilter } from "../network/guest-filter.js";
import type { HostLinks } from "../network/host-links.js";
import { Networks } from "../network/networks.js";
import type { Operations } from "../operations/operations.js";
import type { StatePaths } from "../paths.js";
import { guestCgroupName } from "../jail/cgroups.js";
import type { Catalog } from "../storage/catalog.js";
import type { ChannelsRepo } from "../store/channels-repo.js";
import type { DataDisksRepo } from "../store/data-disks-repo.js";
import type { DiskRow, InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import type { NetworksRepo } from "../store/networks-repo.js";
import type { SnapshotsRepo } from "../store/snapshots-repo.js";
import { InstanceActions } from "./actions.js";
import { BootQueue, defaultBootConcurrency } from "./boot-queue.js";
import { Admission, DEFAULT_OVERCOMMIT, hostMemTotalMiB } from "./admission.js";
import { reconcileAtStart, type Reconciled } from "./adoption.js";
import type { ActOptions, CreateInstance } from "./commands.js";
import { ConsoleChannels } from "./console-channels.js";
import { Consoles } from "./consoles.js";
import { CpuAccounting } from "./cpu-accounting.js";
import { Lifetimes } from "./create-delete.js";
import { Facts } from "./facts.js";
import { FileFacts } from "./file-facts.js";
import { GuestIo } from "./guest-io.js";
import { GuestLimits } from "./guest-limits.js";
import { Guests, type JailConfig } from "./guests.js";
import { KernelUpgrades } from "./kernel-upgrades.js";
import { LiveDisks } from "./live-disks.js";
import { LiveMemory } from "./live-memory.js";
import { DEFAULT_RECLAIM_OPTIONS, MemoryReclaimer, type ReclaimOptions } from "./memory-reclaim.js";
import { OpLock } from "./op-lock.js";
import { patchInstance, type PatchRequest } from "./patch.js";
import { Policies } from "./policies.js";
import { Presenter } from "./presenter.js";
import { InstanceQueries } from "./queries.js";
import { Registry } from "./registry.js";
import { Snapshots } from "./snapshots.js";
import { Starter } from "./start.js";
import type { WorkerPool } from "../supervisor/host.js";
import { WorkerFacts } from "./worker-facts.js";
import { MetricsSource } from "../metrics/metrics-source.js";
import { DEFAULT_TIMING, UsageSampler, type SamplerTiming } from "../metrics/usage-sampler.js";

export type { JailConfig } from "./guests.js";

export interface InstancesOptions {
  paths: StatePaths;
  repo: InstancesRepo;
  disksRepo: DataDisksRepo;
  channelsRepo: ChannelsRepo;
  snapshotsRepo: SnapshotsRepo;
  networksRepo: NetworksRepo;
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
  /** host admission: guests' boot sizes together at most MemTotal × overcommit (default: this host's MemTotal, 1.5) */
  admission?: { memTotalMiB?: number; overcommit?: number };
  reclaim?: Partial<ReclaimOptions>;
  /** how often guests' usage is read (core/metrics/usage-sampler.ts) */
  usageTiming?: SamplerTiming;
  /** guests booting at once; more starts wait their turn (default: one per CPU, at least 2) */
  bootConcurrency?: number;
}

/**
 * Every instance, and the services around them, wired together: the
 * composition root of core/instances/. Each part gets the small context it
 * needs (Guests, the registry, the lock, the facts), never this object.
 */
export class Instances {
  readonly registry = new Registry();
  readonly lock = new OpLock();
  readonly boots: BootQueue;
  readonly guests: Guests;
  readonly facts: Facts;
  readonly memory: LiveMemory;
  readonly disks: LiveDisks;
  readonly networks: Networks;
  readonly snapshots: Snapshots;
  readonly policies: Policies;
  readonly consoles: Consoles;
  readonly queries: InstanceQueries;
  readonly files: FileFacts;
  readonly limits: GuestLimits;
  readonly cpu: CpuAccounting;
  readonly admission: Admission;
  readonly reclaimer: MemoryReclaimer;
  readonly usage: UsageSampler;
  readonly metrics: MetricsSource;
  /** A guest's mconsole, facts, usage, console log, consoles and channels */
  readonly io: GuestIo;
  private readonly channels: ConsoleChannels;
  private readonly starter: Starter;
  private readonly workers: WorkerFacts;
  private readonly actions: InstanceActions;
  private readonly upgrades: KernelUpgrades;
  private readonly lifetimes: Lifetimes;
  private readonly presenter: Presenter;

  constructor(private readonly o: InstancesOptions) {
    const scrollbackBytes = o.scrollbackBytes ?? 256 * 1024;
    this.boots = new BootQueue(o.bootConcurrency ?? defaultBootConcurrency());
    this.guests = new Guests(o.repo, this.registry, o.catalog, o.jail);
    this.facts = new Facts(o.repo, o.bus, o.log);
    const view = (name: string) => this.fresh(name); // a command's answer: what it changed on disk shows at once
    this.memory = new LiveMemory(this.guests, o.repo, o.bus, o.log, (id) => o.paths.umlDir(id));
    this.limits = new GuestLimits({ cgroups: o.jail.cgroups, maxProcesses: o.jail.maxProcesses, tenantCpuCap: (t) => o.jail.tenantCpuCap(t) }, o.repo, this.registry, o.log);
    this.cpu = new CpuAccounting(o.jail.cgroups, this.registry, o.repo);
    this.admission = new Admission(o.repo, o.admission?.memTotalMiB ?? hostMemTotalMiB(), o.admission?.overcommit ?? DEFAULT_OVERCOMMIT);
    this.reclaimer = new MemoryReclaimer(o.repo, this.registry, this.memory, this.cpu, o.bus, o.log, (id) => o.paths.umlDir(id), { ...DEFAULT_RECLAIM_OPTIONS, ...o.reclaim });
    this.disks = new LiveDisks(this.guests, o.disksRepo, o.repo, o.catalog, o.bus, o.log, o.paths.disks);
    this.networks = new Networks(this.guests, o.networksRepo, o.repo, o.hostLinks, o.log, o.guestFilter, {
      allocateUid: (id) => o.jail.hostIds.allocate({ kind: "network", id }),
      jail: { launcher: o.jail.launcher, jailRoot: o.paths.jailRoot },
    });
    this.channels = new ConsoleChannels(o.channelsRepo, o.log);
    this.consoles = new Consoles(this.guests, this.registry, this.channels, o.paths, scrollbackBytes);
    this.queries = new InstanceQueries(o.repo, this.disks);
    this.files = new FileFacts(o.repo, this.queries, o.bus);
    this.usage = new UsageSampler(
      {
        repo: o.repo,
        hasGuest: (id) => this.registry.has(id),
        cgroups: o.jail.cgroups,
        hostInterfaces: (id) => this.networks.nicsOf(id).flatMap((n) => (n.hostInterface ? [{ slot: n.slot, hostInterface: n.hostInterface }] : [])),
        cgroupOf: (r) => this.limits.cgroupOf(r.id) ?? guestCgroupName(r.id, r.owner), // where it really is (a tenant's level, an adopted guest's)
        ramDirOf: (id) => o.paths.umlDir(id),
        mconsole: (n, c, t) => this.guests.mconsole(n, c, t),
        log: o.log,
      },
      o.usageTiming ?? DEFAULT_TIMING,
    );
    this.io = new GuestIo({ guests: this.guests, consoles: this.consoles, usage: this.usage, repo: o.repo, paths: o.paths, log: o.log });
    this.metrics = new MetricsSource({ repo: o.repo, sampler: this.usage, allocated: (r) => this.files.allocatedTotal(r), hasGuest: (id) => this.registry.has(id), bus: o.bus });
    this.presenter = new Presenter(o.repo, o.catalog, this.lock, this.boots, this.disks, this.networks, this.files, this.cpu);
    this.workers = new WorkerFacts(o.repo, o.catalog, this.registry, this.facts, this.consoles, o.bus, o.log, {
      afterBoot: (id, rt, name) => {
        void this.channels.configureAll(id, rt.host, rt.log);
        const warn = (e: unknown) => rt.log.warn({ err: (e as Error).message }, "re-applying disks, NICs and memory after boot failed");
        // memory's count is reset whatever happened to the disks: the reclaimer waits for it
        void this.disks
          .afterBoot(name)
          .then(() => this.networks.afterBoot(name))
          .catch(warn)
          .then(() => this.memory.afterBoot(name))
          .catch(warn)
          .finally(() => this.reclaimer.refresh());
      },
      afterAdoption: (id, rt) => {
        void this.channels.configureAll(id, rt.host, rt.log);
        this.memory.settle(id);
        this.reclaimer.refresh();
      },
      afterExit: (id, requested, reason, upS) => this.policies.afterExit(id, requested, reason, upS),
      accountCpu: (id, cpuNs) => this.cpu.finish(id, cpuNs),
      accountExit: (id, cpuNs) => {
        this.cpu.finish(id, cpuNs);
        this.limits.guestEnded(id);
      },
      onHang: (id, evidence) => this.policies.onHang(id, evidence),
      act: (name, action, byPolicy) => this.act(name, action, { wait: true, byPolicy }),
      bootSpec: (row) => this.starter.bootSpec(row, this.limits.prepareBoot(row)),
    });
    this.starter = new Starter({
      paths: o.paths,
      repo: o.repo,
      catalog: o.catalog,
      pool: o.pool,
      jail: o.jail,
      guests: this.guests,
      facts: this.facts,
      workers: this.workers,
      disks: this.disks,
      networks: this.networks,
      limits: this.limits,
      scrollbackBytes,
      consoleLogMaxBytes: o.consoleLogMaxBytes ?? 16 * 1024 * 1024,
      onDiskProblem: (row) => this.files.refresh(row),
    });
    this.actions = new InstanceActions({
      repo: o.repo,
      catalog: o.catalog,
      operations: o.operations,
      registry: this.registry,
      lock: this.lock,
      facts: this.facts,
      guests: this.guests,
      starter: this.starter,
      admission: this.admission,
      boots: this.boots,
      view,
    });
    this.upgrades = new KernelUpgrades(this.actions, o.repo, o.catalog, o.operations, o.bus, o.log);
    this.actions.setUpgrades(this.upgrades);
    const layers = {
      row: (n: string) => this.guests.row(n),
      get: view,
      hasGuest: (id: string) => this.registry.has(id),
      mconsole: (n: string, c: string, t?: number) => this.guests.mconsole(n, c, t),
      act: (n: string, a: InstanceAction, x: ActOptions) => this.act(n, a, x),
      create: (c: CreateInstance) => this.create(c),
      layersOn: (p: string) => this.queries.layersOn(p),
      busyWithName: (n: string) => this.actions.busyWithName(n),
      markUpgrading: (n: string, on: boolean) => this.actions.markUpgrading(n, on),
    };
    this.snapshots = new Snapshots(layers, o.repo, o.snapshotsRepo, o.catalog, o.operations, o.log);
    this.policies = new Policies({ row: (n) => this.guests.row(n), hasGuest: (id) => this.registry.has(id), act: (n, a, x) => this.act(n, a, x) }, o.repo, o.bus, o.log);
    this.lifetimes = new Lifetimes({
      limits: this.limits,
      paths: o.paths,
      repo: o.repo,
      catalog: o.catalog,
      bus: o.bus,
      log: o.log,
      jail: o.jail,
      guests: this.guests,
      registry: this.registry,
      actions: this.actions,
      consoles: this.consoles,
      networks: this.networks,
      snapshots: () => this.snapshots,
      view,
    });
  }

  // ---- queries

  /** Every instance, from cached state: no file is touched (file facts are refreshed in the background). */
  list(): InstanceView[] {
    return this.presenter.viewAll(this.o.repo.all());
  }

  /** Every instance's row (from memory). */
  rows(): readonly InstanceRow[] {
    return this.o.repo.all();
  }

  /** One instance from cached state; a running guest's CPU counter is read now (a pread on its held cgroup fd, ~2 µs). */
  get(name: string): InstanceView {
    const row = this.guests.row(name);
    this.cpu.sample(row.id);
    return this.presenter.view(row);
  }

  /** The view after a command, or of one instance: its file facts refreshed first. */
  fresh(name: string): InstanceView {
    const row = this.guests.row(name);
    this.files.refresh(row);
    this.cpu.sample(row.id);
    return this.presenter.view(row);
  }

  row(name: string): InstanceRow {
    return this.guests.row(name);
  }

  /** The root COW's row: its path and the backing it was made over (a migration rewrites the header to it). */
  rootDiskRow(name: string): DiskRow | undefined {
    return this.o.repo.disks(this.guests.row(name).id).find((d) => d.slot === "ubda");
  }

  counts(): { total: number; running: number } {
    const c = this.o.repo.counts();
    return { total: c.total, running: c.active };
  }

  hasGuest(id: string): boolean {
    return this.registry.has(id);
  }

  identityOf(name: string): GuestIdentity {
    return this.guests.identityOf(name);
  }

  // ---- commands on instances

  create(cmd: CreateInstance): InstanceView {
    return this.lifetimes.create(cmd);
  }

  delete(name: string, force: boolean): Promise<{ deleted: string }> {
    return this.lifetimes.delete(name, force);
  }

  act(name: string, action: Parameters<InstanceActions["act"]>[1], o: ActOptions): Promise<ActionResult> {
    return this.actions.act(name, action, o);
  }

  patch(name: string, req: PatchRequest) {
    return patchInstance(
      {
        paths: this.o.paths,
        repo: this.o.repo,
        catalog: this.o.catalog,
        bus: this.o.bus,
        guests: this.guests,
        registry: this.registry,
        memory: this.memory,
        limits: this.limits,
        reclaimer: this.reclaimer,
        applyNetLimit: (id, mbit, previous) => this.networks.applyNetLimit(id, mbit, previous),
        view: (n) => this.fresh(n),
      },
      name,
      req,
    );
  }

  /** A tenant's changed CPU cap on its cgroup level and its running guests (Tenants calls it before it stores the cap). */
  applyTenantCpuCap(tenant: string, cpus: number | null, before: number | null): void {
    this.limits.applyTenantCap(tenant, cpus, before);
  }

  rollout(kernelName: string, sel: { instances?: string[]; kernel?: string; image?: string }, batchSize: number, deadlineS: number | undefined, wait: boolean) {
    return this.upgrades.rollout(kernelName, sel, batchSize, deadlineS, wait);
  }

  // ---- daemon start and stop

  async reconcileAtStart(): Promise<Reconciled> {
    const r = await reconcileAtStart({
      paths: this.o.paths,
      repo: this.o.repo,
      catalog: this.o.catalog,
      disks: this.disks,
      facts: this.facts,
      starter: this.starter,
      workers: this.workers,
      pool: this.o.pool,
      policies: this.policies,
      cgroups: this.o.jail.cgroups,
      log: this.o.log,
    });
    this.files.start();
    this.cpu.start();
    this.reclaimer.start();
    this.usage.start();
    return r;
  }

  /** Daemon stop: release every guest without stopping it. */
  async detachAll(): Promise<void> {
    this.boots.cancelAll();
    this.files.stop();
    this.reclaimer.stop();
    this.cpu.stop();
    this.usage.stop();
    // forget them first: a worker that ends now is released, not "died" (which would kill its guest)
    await Promise.all(
      this.registry.takeAll().map(async (rt) => {
        await rt.host.detach();
        await rt.host.terminate();
      }),
    );
    this.consoles.closeAll(1001, "daemon stopping");
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
    await Promise.all(
      this.o.repo
        .all()
        .filter((r) => this.registry.has(r.id))
        .map((r) => this.act(r.name, "halt", { wait: true }).catch(() => {})),
    );
  }

  cowsOn(path: string): Array<{ disk: string; path: string }> {
    return this.queries.cowsOn(path);
  }

  layersOn(path: string): string[] {
    return this.queries.layersOn(path);
  }

  kernelUsers(kernelId: string): string[] {
    return this.queries.kernelUsers(kernelId);
  }
}
