import type { FastifyInstance } from "fastify";
import { join } from "node:path";
import { native } from "../core/native.js";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, unlinkSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import pino, { type Logger } from "pino";
import { EventBus } from "../core/events/bus.js";
import { EventJournal } from "../core/events/journal.js";
import { EventsRepo } from "../core/store/events-repo.js";
import { DEFAULT_TIMING } from "../core/metrics/usage-sampler.js";
import { DaemonMetrics } from "./http/metrics.js";
import { Instances } from "../core/instances/instances.js";
import { WorkerPool, type SupervisorThread } from "../core/supervisor/host.js";
import { Operations } from "../core/operations/operations.js";
import { StatePaths } from "../core/paths.js";
import { Catalog } from "../core/storage/catalog.js";
import { ImageOperations } from "../core/storage/image-operations.js";
import { CatalogRepo } from "../core/store/catalog-repo.js";
import { openDb } from "../core/store/db.js";
import { InstancesRepo } from "../core/store/instances-repo.js";
import { DataDisksRepo } from "../core/store/data-disks-repo.js";
import { ChannelsRepo } from "../core/store/channels-repo.js";
import { SnapshotsRepo } from "../core/store/snapshots-repo.js";
import { NetworksRepo } from "../core/store/networks-repo.js";
import { retireSwitches } from "../core/network/legacy-switches.js";
import { GuestFilter } from "../core/network/guest-filter.js";
import { HostLinks } from "../core/network/host-links.js";
import { OperationsRepo } from "../core/store/operations-repo.js";
import { nowIso } from "../core/util/ids.js";
import { buildApp, localRequests } from "./app.js";
import { Gate } from "./auth/gate.js";
import { DEFAULT_RETENTION, Retention } from "../core/store/retention.js";
import { DEFAULT_SESSION_LIMITS } from "./ws/sessions.js";
import { TenantsRepo } from "../core/store/tenants-repo.js";
import { Tenants } from "../core/tenants/tenants.js";
import { Dispatcher } from "../core/commands/dispatch.js";
import { createHash } from "node:crypto";
import { adminGid, HostIds, hostIdClashes, probeUid, sharedGid } from "../core/jail/host-ids.js";
import { IMAGE_MODE, imageGid, KERNEL_MODE, sealImage, sealKernel, setImageGroups } from "../core/storage/seal.js";
import { probeJailed } from "../core/jail/probe.js";
import { HostIdsRepo } from "../core/store/host-ids-repo.js";
import { defaultCgroupParent, detectCgroups, ensureParent, killCgroup, listCgroups, removeCgroup, removeTenantLevel, type CgroupLayout } from "../core/jail/cgroups.js";
import { LAUNCHER, launcherAvailable } from "../core/jail/jail-spec.js";
import { ensureAdminToken } from "./auth/token.js";
import type { DaemonConfig } from "./config.js";
import { joinFleet } from "./fleet.js";
import type { Services } from "./services.js";
import { WebSockets } from "./ws/websockets.js";

export interface RunningDaemon {
  services: Services;
  /** the HTTP app (tests inject requests into it) */
  app: FastifyInstance;
  tcp: { host: string; port: number } | null;
  socketPath: string;
  /** Stops listening and releases every guest without stopping it. */
  close(): Promise<void>;
  /** Host-shutdown mode: every guest shut down (halted after the deadline), then close. */
  shutdownGuests(deadlineS: number): Promise<{ shutDown: string[]; halted: string[] }>;
}

export function daemonVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    return pkg.version;
  } catch {
    return "0.0.0";
  }
}

/** The local socket is admin for root only: the peer's uid from SO_PEERCRED (the socket is also 0600). */
function rootPeer(socket: unknown): boolean {
  const fd = (socket as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) return false;
  try {
    return native.peerUid(fd) === 0;
  } catch {
    return false;
  }
}

/** Standby launchers' spare cgroups a previous run left (a daemon killed with spare workers): emptied and removed. */
function sweepSpareCgroups(layout: CgroupLayout, log: Logger): void {
  for (const name of listCgroups(layout).filter((n) => n.startsWith("spare-"))) {
    killCgroup(layout, name);
    if (!removeCgroup(layout, name)) log.warn({ cgroup: name }, "a spare cgroup could not be removed");
  }
}

/** The guests' cgroups: under a parent of this daemon's, v2 or v1. A host without cgroups runs guests without (a warning). */
function openCgroups(cfg: DaemonConfig, stateDir: string, log: Logger): CgroupLayout | null {
  try {
    const layout = detectCgroups(cfg.cgroupParent ?? defaultCgroupParent(stateDir, (s) => createHash("sha256").update(s).digest("hex")), undefined, cfg.cgroupV2 ?? undefined);
    ensureParent(layout);
    log.info({ version: layout.version, parent: layout.parent }, "guests get cgroups of their own");
    return layout;
  } catch (e) {
    if (cfg.cgroupV2) throw e; // asked for explicitly: not a silent fallback
    log.warn({ err: (e as Error).message }, "no usable cgroups: guests run without their own cgroup (no memory or process limits)");
    return null;
  }
}

/**
 * Images and kernels made before guests were jailed (0444/0555, world-readable)
 * get their owner's group and modes once; the installed default kernel stays
 * as its package made it.
 */
function resealCatalog(catalog: Catalog, paths: StatePaths): number {
  let n = 0;
  for (const i of catalog.imageRows()) {
    if (!i.path.startsWith(`${paths.images}/`) || !existsSync(i.path)) continue;
    const st = statSync(i.path);
    if ((st.mode & 0o777) === IMAGE_MODE && st.gid === imageGid(i.owner, i.shared === 1)) continue;
    sealImage(i.path, i.owner, i.shared === 1);
    n++;
  }
  for (const k of catalog.listKernels()) {
    if (!k.path.startsWith(`${paths.kernels}/`) || !existsSync(k.path) || (statSync(k.path).mode & 0o777) === KERNEL_MODE) continue;
    sealKernel(k.path);
    n++;
  }
  return n;
}

/** What the in-process tests replace: the supervisor threads (a fake guest behind each), and the host firewall. */
export interface DaemonSeams {
  thread?: () => SupervisorThread;
  /** false: no nftables guest filter (nothing on the host's firewall changes) */
  guestFilter?: boolean;
}

export async function startDaemon(cfg: DaemonConfig, log: Logger = pino({ level: cfg.logLevel }), seams: DaemonSeams = {}): Promise<RunningDaemon> {
  process.umask(0o077); // whatever umld makes is private unless it says otherwise
  const paths = new StatePaths(cfg.stateDir);
  // guests reach their files through their jails only: nothing here is theirs to traverse on the host
  for (const d of [paths.root, paths.images, paths.instances, paths.disks, paths.kernels, paths.jailRoot]) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
    chmodSync(d, 0o700);
  }
  mkdirSync(paths.networks, { recursive: true, mode: 0o700 });
  chmodSync(paths.networks, 0o700); // root's only: no guest reaches anything here since switches are kernel bridges
  if (!launcherAvailable()) throw new Error(`the jail launcher is missing (${LAUNCHER}): run npm run build`);
  const clashes = hostIdClashes(cfg.guestIds);
  if (clashes.length) {
    throw new Error(`--guest-ids ${cfg.guestIds.first}-${cfg.guestIds.last} overlaps ids in use on this host (${clashes.slice(0, 5).join("; ")}): choose another range`);
  }
  const cgroups = openCgroups(cfg, paths.root, log);
  const db = openDb(paths.db);
  for (const f of [paths.db, `${paths.db}-wal`, `${paths.db}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
  const journal = new EventJournal(new EventsRepo(db));
  const bus = new EventBus(journal, (err) => log.error({ err }, "an event could not be written to the journal: it went out live only"));
  const operationsRepo = new OperationsRepo(db);
  const operations = new Operations(operationsRepo, bus);
  const interrupted = operationsRepo.failInterrupted(nowIso());
  const probe = { launcher: LAUNCHER, jailRoot: paths.jailRoot, uid: probeUid(cfg.guestIds), groups: [sharedGid(cfg.guestIds)] };
  const hostIds = new HostIds(new HostIdsRepo(db), cfg.guestIds);
  const backfilled = hostIds.backfill();
  if (backfilled) log.info({ count: backfilled }, "host ids given to instances, tenants and networks made before guests were jailed");
  const tenantsRepo = new TenantsRepo(db);
  const tenants = new Tenants(tenantsRepo, log);
  const gidOfTenant = (name: string): number => {
    const t = tenantsRepo.byName(name);
    if (!t) return adminGid(cfg.guestIds); // an owner that is gone: its images stay the admins' to read
    return t.host_gid ?? hostIds.allocate({ kind: "tenant", id: t.id }); // a tenant made since this start
  };
  setImageGroups({ shared: sharedGid(cfg.guestIds), admin: adminGid(cfg.guestIds), tenant: gidOfTenant });
  const catalog = new Catalog(new CatalogRepo(db), paths.images, paths.kernels, (path, args) => probeJailed(probe, path, args));
  const kernel = await catalog.ensureDefaultKernel(cfg.kernelPath);
  const image = await catalog.ensureDefaultImage();
  log.info({ kernel: kernel.version, kernelSha256: kernel.sha256, image: image.name, imageSha256: image.sha256 }, "catalog ready");
  const resealed = resealCatalog(catalog, paths);
  if (resealed) log.info({ files: resealed }, "images and kernels made readable by their owners' guests only");
  const networksRepo = new NetworksRepo(db);
  retireSwitches(paths.networks, cgroups, log);
  const tenantGid = (instanceName: string): number | null => {
    const dot = instanceName.indexOf(".");
    return dot <= 0 ? null : gidOfTenant(instanceName.slice(0, dot));
  };
  const jail = { hostIds, cgroups, launcher: LAUNCHER, maxProcesses: cfg.guestMaxProcesses, tenantGid, tenantCpuCap: (t: string) => tenants.cpuCap(t) };
  if (cgroups) sweepSpareCgroups(cgroups, log);
  // standby launchers are renamed into a guest's cgroup at its start: cgroup v1 only (v2 forbids renames)
  const pool = new WorkerPool(250, cgroups?.version === 1 && !seams.thread ? { launcher: LAUNCHER, cgroups } : null, seams.thread);
  pool.warm();
  const historyRepo = new InstancesRepo(db);
  const usageTiming = { ...DEFAULT_TIMING, everyMs: (cfg.usageIntervalS ?? 5) * 1000, keepEveryMs: Math.max(DEFAULT_TIMING.keepEveryMs, (cfg.usageIntervalS ?? 5) * 1000) };
  const instances = new Instances({
    usageTiming,
    paths,
    repo: historyRepo,
    disksRepo: new DataDisksRepo(db),
    channelsRepo: new ChannelsRepo(db),
    snapshotsRepo: new SnapshotsRepo(db),
    networksRepo,
    hostLinks: new HostLinks(join(paths.networks, "ip_forward.umld"), log),
    guestFilter: seams.guestFilter === false ? undefined : new GuestFilter({ stateDir: paths.root, range: { first: cfg.guestIds.first, count: cfg.guestIds.last - cfg.guestIds.first + 1 }, log }),
    jail,
    catalog,
    operations,
    bus,
    pool,
    log,
    admission: { overcommit: cfg.memoryOvercommit },
    bootConcurrency: cfg.bootConcurrency,
  });
  tenants.setCpuCapApplier((t, cpus, before) => instances.applyTenantCpuCap(t, cpus, before));
  tenants.onRightsEnded((e) => {
    if (e.kind === "tenant-deleted" && cgroups) removeTenantLevel(cgroups, e.tenant); // it owns no guest any more
  });
  instances.networks.start(); // bridges and TAPs first: adopted guests are plugged into them
  const reconciled = await instances.reconcileAtStart();
  const autostart = () => {
    const autostarted = instances.autostart();
    if (autostarted.length) log.info({ instances: autostarted }, "autostart");
  };
  if (!cfg.fleet) autostart(); // in a fleet: once the fleet says which instances are this host's (a migration's stale copy never starts)
  if (interrupted || reconciled.crashed.length || reconciled.adopted.length) log.warn({ interruptedOperations: interrupted, ...reconciled }, "reconciled state from a previous run");

  const adminToken = ensureAdminToken(paths.adminToken);
  const metricsToken = ensureAdminToken(paths.metricsToken);
  const images = new ImageOperations(catalog, operations, (path) => instances.layersOn(path));
  const dispatcher = new Dispatcher({ instances, catalog, images, tenants, operations, bus });
  const version = daemonVersion();
  const services: Services = { instances, operations, catalog, images, bus, journal, log, daemonVersion: version, adminToken, tenants, dispatcher, metrics: new DaemonMetrics(version), fleet: null };
  const tls = cfg.tls ? { cert: readFileSync(cfg.tls.certPath), key: readFileSync(cfg.tls.keyPath) } : undefined;
  const gate = new Gate(adminToken, tenants, cfg.limits.ratePerMinute, metricsToken); // HTTP and upgrades share one budget
  const app = await buildApp(services, cfg.limits, tls, gate);
  const sockets = new WebSockets(services, gate, cfg.sessions ?? DEFAULT_SESSION_LIMITS);
  const retention = new Retention(
    {
      audit: (b, k, n) => tenantsRepo.pruneAudit(b, k, n),
      stateHistory: (b, k, n) => historyRepo.pruneHistory(b, k, n),
      operations: (b, k, n) => operationsRepo.prune(b, k, n),
    },
    cfg.retention ?? DEFAULT_RETENTION,
    log,
  );
  retention.start();
  // the journal has its own, shorter bounds: a client's replay window (docs/operations.md)
  const eventRetention = new Retention({ events: (b, k, n) => journal.prune(b, k, n) }, cfg.eventRetention ?? { days: 7, maxRows: 100_000 }, log);
  eventRetention.start();
  await app.ready();
  if (cfg.fleet) {
    // joined before any request is served: until then a create claims no name, a migration's stale copy could start, a revoked token could work
    try {
      services.fleet = await joinFleet(cfg.fleet, paths.root, services, gate);
      autostart();
    } catch (e) {
      await app.close();
      throw e;
    }
  }

  // the unix socket: same routes, no token (the file is mode 0600)
  if (existsSync(paths.socket)) unlinkSync(paths.socket);
  const unixServer: Server = createServer((req, res) => {
    if (rootPeer(req.socket)) localRequests.add(req);
    app.routing(req, res);
  });
  unixServer.on("upgrade", (req, socket, head) => {
    if (rootPeer(socket)) localRequests.add(req);
    sockets.handleUpgrade(req, socket, head);
  });
  await new Promise<void>((resolve, reject) => unixServer.once("error", reject).listen(paths.socket, () => resolve()));
  chmodSync(paths.socket, 0o600);

  let tcp: RunningDaemon["tcp"] = null;
  if (cfg.listen) {
    app.server.on("upgrade", (req, socket, head) => sockets.handleUpgrade(req, socket, head));
    await app.listen({ host: cfg.listen.host, port: cfg.listen.port });
    const a = app.server.address() as AddressInfo;
    tcp = { host: a.address, port: a.port };
  }
  log.info({ tcp: tcp ? `${tcp.host}:${tcp.port}` : null, tls: Boolean(tls), socket: paths.socket, stateDir: paths.root, fleet: cfg.fleet?.hostName ?? null }, "umld listening");

  let closed = false;
  return {
    services,
    app,
    tcp,
    socketPath: paths.socket,
    async shutdownGuests(deadlineS: number) {
      const r = await instances.shutdownGuests(deadlineS);
      log.info(r, "guests shut down for a host shutdown");
      return r;
    },
    async close() {
      if (closed) return;
      closed = true;
      retention.stop();
      eventRetention.stop();
      instances.networks.stop();
      sockets.close();
      await services.fleet?.fleet.close();
      await new Promise<void>((r) => unixServer.close(() => r()));
      await app.close();
      await instances.detachAll();
      await pool.close();
      db.close();
      log.info("umld stopped; guests left running");
    },
  };
}
