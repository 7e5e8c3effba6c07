import { join } from "node:path";
import { native } from "../core/native.js";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import pino, { type Logger } from "pino";
import { EventBus } from "../core/events/bus.js";
import { InstanceManager } from "../core/instances/manager.js";
import { WorkerPool } from "../core/instances/supervisor-host.js";
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
import { SwitchSupervisor } from "../core/network/switches.js";
import { GuestFilter } from "../core/network/guest-filter.js";
import { HostLinks } from "../core/network/host-links.js";
import { OperationsRepo } from "../core/store/operations-repo.js";
import { nowIso } from "../core/util/ids.js";
import { buildApp, localRequests } from "./app.js";
import { TenantsRepo } from "../core/store/tenants-repo.js";
import { Tenants } from "../core/tenants/tenants.js";
import { ensureGuestUser } from "../core/guest/identity.js";
import { traverseOnly } from "../core/instances/guest-files.js";
import { ensureAdminToken } from "./auth/token.js";
import type { DaemonConfig } from "./config.js";
import type { Services } from "./services.js";
import { WebSockets } from "./ws/websockets.js";

export interface RunningDaemon {
  services: Services;
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

export async function startDaemon(cfg: DaemonConfig, log: Logger = pino({ level: cfg.logLevel })): Promise<RunningDaemon> {
  const paths = new StatePaths(cfg.stateDir);
  for (const d of [paths.root, paths.images, paths.instances, paths.umlRun, paths.disks, paths.kernels, paths.networks]) mkdirSync(d, { recursive: true, mode: 0o700 });
  // unprivileged guests pass through these to their own files: traverse, never list
  traverseOnly([paths.root, paths.images, paths.instances, paths.umlRun, paths.disks, paths.kernels, paths.networks]);
  traverseOnly(readdirSync(paths.kernels).map((k) => join(paths.kernels, k))); // kernels stored before guests ran unprivileged
  const guestUser = ensureGuestUser(cfg.guestUser);
  if (guestUser.uid === 0) log.warn("guests run as root (--guest-user root)");
  const db = openDb(paths.db);
  const bus = new EventBus();
  const operations = new Operations(new OperationsRepo(db), bus);
  const interrupted = new OperationsRepo(db).failInterrupted(nowIso());
  const catalog = new Catalog(new CatalogRepo(db), paths.images, paths.kernels);
  const kernel = await catalog.ensureDefaultKernel(cfg.kernelPath);
  const image = await catalog.ensureDefaultImage();
  log.info({ kernel: kernel.version, kernelSha256: kernel.sha256, image: image.name, imageSha256: image.sha256 }, "catalog ready");
  const switches = new SwitchSupervisor(paths.networks, log);
  const tenants = new Tenants(new TenantsRepo(db), log);
  const identityOf = (instanceName: string) => {
    const dot = instanceName.indexOf(".");
    return (dot > 0 ? tenants.guestUserOf(instanceName.slice(0, dot)) : null) ?? guestUser;
  };
  const pool = new WorkerPool();
  pool.warm();
  const manager = new InstanceManager({ paths, repo: new InstancesRepo(db), disksRepo: new DataDisksRepo(db), channelsRepo: new ChannelsRepo(db), snapshotsRepo: new SnapshotsRepo(db), networksRepo: new NetworksRepo(db), switches, hostLinks: new HostLinks(join(paths.networks, "ip_forward.umld"), log), guestFilter: new GuestFilter({ stateDir: paths.root, range: null, log }), identityOf, catalog, operations, bus, pool, log });
  manager.networks.start(); // switches first: adopted guests are plugged into them
  const reconciled = await manager.reconcileAtStart();
  const autostarted = manager.autostart();
  if (autostarted.length) log.info({ instances: autostarted }, "autostart");
  if (interrupted || reconciled.crashed.length || reconciled.adopted.length) log.warn({ interruptedOperations: interrupted, ...reconciled }, "reconciled state from a previous run");

  const adminToken = ensureAdminToken(paths.adminToken);
  const images = new ImageOperations(catalog, operations, (path) => manager.layersOn(path));
  const services: Services = { manager, operations, catalog, images, bus, log, daemonVersion: daemonVersion(), adminToken, tenants };
  const tls = cfg.tls ? { cert: readFileSync(cfg.tls.certPath), key: readFileSync(cfg.tls.keyPath) } : undefined;
  const app = await buildApp(services, cfg.limits, tls);
  const sockets = new WebSockets(services);
  await app.ready();

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
  log.info({ tcp: tcp ? `${tcp.host}:${tcp.port}` : null, tls: Boolean(tls), socket: paths.socket, stateDir: paths.root }, "umld listening");

  let closed = false;
  return {
    services,
    tcp,
    socketPath: paths.socket,
    async shutdownGuests(deadlineS: number) {
      const r = await manager.shutdownGuests(deadlineS);
      log.info(r, "guests shut down for a host shutdown");
      return r;
    },
    async close() {
      if (closed) return;
      closed = true;
      sockets.close();
      await new Promise<void>((r) => unixServer.close(() => r()));
      await app.close();
      await manager.detachAll();
      switches.close(); // switches keep running with the guests
      await pool.close();
      db.close();
      log.info("umld stopped; guests left running");
    },
  };
}
