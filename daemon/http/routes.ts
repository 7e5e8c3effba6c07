import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { CAPABILITIES, PROTOCOL_VERSION } from "../../protocol/version.js";
import { contract, routeScopes, type ResponseIn, type RouteName } from "../../protocol/contract.js";
import { openApiDocument } from "../../protocol/openapi.js";
import { UmldError } from "../../core/errors.js";
import { hostOverview } from "../../core/host/overview.js";
import { INSTANCE_VERBS, waits, type CommandKind, type CommandOf } from "../../core/commands/command.js";
import type { CommandResult } from "../../core/commands/handlers.js";
import type { Scope } from "../auth/scope.js";
import type { Services } from "../services.js";
import { scopeOf } from "./request-context.js";
import { callPeer, fleetInstances, forwardToOwner, peerRequests, rethrow } from "./peers.js";
import { drain, migrate } from "../migrate.js";
import { anyAnswer, anyCall, registerContract, type AnyAnswer, type Call } from "./register.js";

/** What a handler has besides its call: who asks, and the one way to change anything. */
interface Edge {
  scope: Scope;
  /** answer 202: an operation not waited for */
  accepted(): void;
  /** another host of the fleet sent it: served here, never forwarded */
  peer: boolean;
  /** sends this request as is to another host of the fleet (with the caller's identity) and answers what it answered */
  relay(to: string): Promise<unknown>;
  /** A name as the principal sent it, as stored: a tenant's own namespace (reads; commands are put there by the dispatcher). */
  own(name: string): string;
  /** Runs a command through the dispatcher as this principal; an operation not waited for is answered 202. */
  run<K extends CommandKind>(cmd: CommandOf<K>): Promise<CommandResult<K>>;
}
type Handler<N extends RouteName> = (call: Call<N>, x: Edge) => Promise<ResponseIn<N>> | ResponseIn<N>;
type Handlers = { [N in RouteName]: Handler<N> };

/**
 * Route handlers. A write is one command (core/commands) built from the
 * request and run by the dispatcher, which authorizes it, puts its names in
 * the tenant's namespace and reserves its quota; a read is a query, its
 * names put in the namespace here.
 */
export function handlers(s: Services): Handlers {
  return {
    health: (_c, x) => {
      if (x.scope.prefix === null) return { status: "ok", uptime: process.uptime(), instances: s.instances.counts() };
      const own = s.instances.rows().filter((r) => x.scope.sees(r.name)); // a tenant counts its own guests only (rows: no views built)
      return { status: "ok", uptime: process.uptime(), instances: { total: own.length, running: own.filter((r) => r.pid !== null).length } };
    },
    version: () => ({ protocolVersion: PROTOCOL_VERSION, daemonVersion: s.daemonVersion, capabilities: [...CAPABILITIES] }),
    openapi: () => openApiDocument(),
    metrics: (_c, x) => s.metrics.render(s.instances.metrics, x.scope),
    listUsage: () => s.instances.io.usageList(),
    instanceUsage: ({ params }, x) => s.instances.io.usageHistory(x.own(params.name)),
    consoleLog: ({ params, query }, x) => s.instances.io.consoleLog(x.own(params.name), query.tail),
    listInstances: async (_c, x) => (s.fleet && !x.peer ? fleetInstances(s.fleet, x.scope, ownedHere(s)) : { instances: ownedHere(s).map((v) => withHost(s, v)) }),
    getInstance: ({ params }, x) => withHost(s, s.instances.get(x.own(params.name))),
    getOperation: ({ params }, x) => {
      const op = s.operations.get(params.id);
      if (!x.scope.sees(op.target)) throw new UmldError("operation_not_found", `no operation ${params.id}`, { id: params.id });
      return op;
    },
    listImages: () => ({ images: s.images.list() }),
    verifyImage: ({ params }, x) => s.images.verify(x.scope.principal.tenant ? s.catalog.imageFor(params.name, x.scope.principal.tenant, "use").name : params.name, s.instances.disks.list()),
    listKernels: () => ({ kernels: s.catalog.listKernels() }),
    getMemory: ({ params }, x) => s.instances.memory.view(x.own(params.name)),
    guestFacts: ({ params }, x) => s.instances.io.guestFacts(x.own(params.name)),
    listDisks: () => ({ disks: s.instances.disks.list() }),
    listChannels: ({ params }, x) => ({ channels: s.instances.io.listChannels(x.own(params.name)) }),
    listNetworks: () => ({ networks: s.instances.networks.list() }),
    listForwards: ({ params }, x) => ({ forwards: s.instances.networks.forwards.list(x.own(params.name)) }),
    listSnapshots: ({ params }, x) => ({ snapshots: s.instances.snapshots.list(x.own(params.name)) }),
    listTenants: () => ({ tenants: s.tenants.list() }),
    getTenant: ({ params }, x) => {
      const t = params.tenant;
      if (x.scope.principal.kind === "tenant" && x.scope.principal.tenant !== t) throw new UmldError("tenant_not_found", `no tenant named '${t}'`, { tenant: t });
      return s.tenants.get(t);
    },
    listTokens: ({ params }) => ({ tokens: s.tenants.listTokens(params.tenant) }),
    listAudit: ({ query: q }) => ({ entries: s.tenants.auditLog(q.limit, q.tenant, q.before) }),
    whoami: (_c, x) => {
      const p = x.scope.principal;
      return { kind: p.kind, tenant: p.tenant, principal: p.label, actions: p.actions ? [...p.actions] : null, expiresAt: p.expiresAt ? new Date(p.expiresAt).toISOString() : null };
    },
    migrateInstance: ({ params, body }, x) => {
      if (!s.fleet) throw new UmldError("not_in_fleet", "this umld is not in a fleet (started without --cluster-etcd)");
      if (!body.wait) x.accepted();
      return migrate(s, s.fleet, x.own(params.name), body.host, { wait: body.wait, timeoutS: body.timeoutS });
    },
    drainHost: async ({ params, body }, x) => {
      if (!s.fleet) throw new UmldError("not_in_fleet", "this umld is not in a fleet (started without --cluster-etcd)");
      if (params.name !== s.fleet.fleet.name) return (await x.relay(params.name)) as ResponseIn<"drainHost">;
      if (!body.wait) x.accepted();
      return drain(s, s.fleet, body.wait);
    },
    listHosts: () => (s.fleet ? { fleet: true, hosts: s.fleet.fleet.hosts() } : { fleet: false, hosts: [] }),
    host: () => hostOverview(s.instances.list(), { version: s.daemonVersion, uptimeS: process.uptime() }),

    // ---- writes: one command each
    createInstance: ({ body: b }, x) => {
      if (b.host !== undefined && !s.fleet) throw new UmldError("not_in_fleet", "this umld is not in a fleet: a create names no host", { host: b.host });
      if (b.host !== undefined && b.host !== s.fleet?.fleet.name) throw new UmldError("host_not_found", `this host is '${s.fleet?.fleet.name}', not '${b.host}'`, { host: b.host });
      return withHostAsync(
        s,
        x.run({
          kind: "instance.create",
          name: b.name,
          memoryMiB: b.memoryMiB,
          maxMemoryMiB: b.maxMemoryMiB,
          diskQuotaMiB: b.diskQuotaMiB,
          memoryReclaim: b.memoryReclaim,
          limits: b.limits,
          policy: b,
          image: b.image,
          kernel: b.kernel,
          bootOptions: b.bootOptions,
        }),
      );
    },
    deleteInstance: ({ params, query }, x) => x.run({ kind: "instance.delete", name: params.name, force: query.force === "true" }),
    changeState: ({ params, body: b }, x) => {
      const common = { name: params.name, wait: b.wait, timeoutS: b.timeoutS };
      if (b.action === "upgrade") return x.run({ kind: INSTANCE_VERBS.upgrade, ...common, kernel: b.kernel, deadlineS: b.deadlineS });
      return x.run({ kind: INSTANCE_VERBS[b.action], ...common });
    },
    bulkAction: ({ body: b }, x) => x.run({ kind: "instance.bulk", action: b.action, names: b.names, selector: b.selector, wait: b.wait, timeoutS: b.timeoutS }),
    patchInstance: ({ params, body }, x) => x.run({ kind: "instance.configure", name: params.name, changes: body }),
    mconsole: ({ params, body }, x) => x.run({ kind: "instance.mconsole", name: params.name, request: body }),
    cloneInstance: ({ params, body }, x) => x.run({ kind: "instance.clone", name: params.name, clone: body }),
    mergeDisk: ({ params, body }, x) => x.run({ kind: "instance.merge", name: params.name, merge: body }),
    createSnapshot: ({ params, body }, x) => x.run({ kind: "snapshot.create", instance: params.name, name: body.name, wait: body.wait }),
    restoreSnapshot: ({ params }, x) => x.run({ kind: "snapshot.restore", instance: params.name, name: params.snapshot }),
    deleteSnapshot: ({ params }, x) => x.run({ kind: "snapshot.delete", instance: params.name, name: params.snapshot }),
    attachDisk: ({ params, body }, x) => x.run({ kind: "disk.attach", instance: params.name, disk: body }),
    detachDisk: ({ params }, x) => x.run({ kind: "disk.detach", instance: params.name, slot: params.slot }),
    deleteDisk: ({ params }, x) => x.run({ kind: "disk.delete", name: params.name }),
    addChannel: ({ params, body }, x) => x.run({ kind: "channel.add", instance: params.name, channel: body.channel }),
    removeChannel: ({ params }, x) => x.run({ kind: "channel.remove", instance: params.name, channel: params.channel }),
    attachNic: ({ params, body }, x) => x.run({ kind: "nic.attach", instance: params.name, network: body.network, mac: body.mac, ip: body.ip }),
    detachNic: ({ params }, x) => x.run({ kind: "nic.detach", instance: params.name, slot: params.slot }),
    createNetwork: ({ body: b }, x) =>
      x.run({
        kind: "network.create",
        name: b.name,
        networkKind: b.kind,
        subnet: b.subnet,
        nat: b.nat || b.mode === "nat",
        routed: b.mode === "routed",
        ...(b.mode === "bridged" || b.bridge !== undefined ? { bridge: b.bridge ?? "" } : {}),
        dns: b.dns,
        hostAccess: b.hostAccess,
        ...(b.ipv6 !== undefined ? { ipv6: b.ipv6 } : {}),
      }),
    deleteNetwork: ({ params }, x) => x.run({ kind: "network.delete", name: params.name }),
    createForward: ({ params, body: b }, x) =>
      x.run({
        kind: "forward.add",
        network: params.name,
        instance: b.instance,
        protocol: b.protocol,
        listenAddress: b.listenAddress ?? null,
        listenPort: b.listenPort,
        targetPort: b.targetPort ?? b.listenPort,
      }),
    deleteForward: ({ params, query }, x) => x.run({ kind: "forward.remove", network: params.name, protocol: params.protocol, listenPort: params.port, listenAddress: query.listenAddress ?? null }),
    importImage: ({ body }, x) => x.run({ kind: "image.import", request: body }),
    buildImage: ({ body }, x) => x.run({ kind: "image.build", request: body }),
    deleteImage: ({ params }, x) => x.run({ kind: "image.delete", name: params.name }),
    registerKernel: ({ body: b }, x) => x.run({ kind: "kernel.register", name: b.name, path: b.path, makeDefault: b.makeDefault }),
    deleteKernel: ({ params }, x) => x.run({ kind: "kernel.delete", name: params.name }),
    rollout: ({ params, body: b }, x) => x.run({ kind: "kernel.rollout", kernel: params.name, selector: b.selector, batchSize: b.batchSize, deadlineS: b.deadlineS, wait: b.wait }),
    shutdownGuests: ({ body }, x) => x.run({ kind: "host.shutdown-guests", deadlineS: body.deadlineS }),
    createTenant: ({ body: b }, x) => x.run({ kind: "tenant.create", name: b.name, quotas: b.quotas }),
    patchTenant: ({ params, body }, x) => x.run({ kind: "tenant.update", name: params.tenant, quotas: body.quotas }),
    deleteTenant: ({ params }, x) => x.run({ kind: "tenant.delete", name: params.tenant }),
    createToken: ({ params, body: b }, x) => x.run({ kind: "token.create", tenant: params.tenant, name: b.name, actions: b.actions, expiresInS: b.expiresInS }),
    revokeToken: ({ params }, x) => x.run({ kind: "token.revoke", tenant: params.tenant, token: params.token }),
  };
}

/** A list answer holds only what the principal may see. */
function filterList(scope: Scope, a: AnyAnswer): unknown {
  if (!routeScopes[a.name].list || scope.prefix === null) return a.result;
  switch (a.name) {
    case "listImages": {
      // its own and the shared catalogue, by owner; a shared image lists only the tenant's own dependants
      const own = (d: string) => scope.sees(d.replace(/^disk:/, ""));
      return { ...a.result, images: a.result.images.filter((x) => scope.seesImage(x)).map((x) => ({ ...x, dependants: x.dependants.filter(own) })) };
    }
    case "listInstances":
      return { ...a.result, instances: a.result.instances.filter((x) => scope.sees(x.name)) };
    case "listUsage":
      return { ...a.result, instances: a.result.instances.filter((x) => scope.sees(x.name)) };
    case "listDisks":
      return { ...a.result, disks: a.result.disks.filter((x) => scope.sees(x.name)) };
    case "listNetworks":
      return { ...a.result, networks: a.result.networks.filter((x) => scope.sees(x.name)) };
    default:
      return a.result;
  }
}

const withHostAsync = async <V extends object>(s: Services, v: Promise<V>): Promise<V> => withHost(s, await v);

/** This host's instances; in a fleet only those the fleet says are its own (a migration's copy left before its commit is not). */
function ownedHere(s: Services) {
  const all = s.instances.list();
  const f = s.fleet?.fleet;
  return f ? all.filter((v) => (f.ownerOf(v.name) ?? f.name) === f.name) : all;
}

/** A view of this host's instance says which host it is on, in a fleet. */
function withHost<V extends object>(s: Services, v: V): V {
  return s.fleet ? { ...v, host: s.fleet.fleet.name } : v;
}

function edge(s: Services, scope: Scope, reply: FastifyReply, peer: boolean, req: FastifyRequest): Edge {
  return {
    scope,
    accepted: () => void reply.code(202),
    relay: async (to) => {
      const a = await callPeer(s.fleet!, to, req.method, req.url, req.body, scope.principal, 60 * 60_000);
      if (a.status >= 400) rethrow(a, to);
      reply.code(a.status);
      return a.body;
    },
    peer,
    own: (name) => scope.qualify(name),
    run: (cmd) => {
      if (waits(cmd) === false) reply.code(202); // a refusal still gets its own status (the error handler sets it)
      return s.dispatcher.execute(cmd, scope.principal);
    },
  };
}

/** Registers every route of the contract under /v1: the route's access checked, its handler run, the answer filtered and presented for the principal. */
export function registerRoutes(app: FastifyInstance, s: Services): void {
  const h = handlers(s);
  registerContract(app, async (name, req, reply, parse) => {
    const scope = scopeOf(req);
    req.routeName = name;
    const rawName = typeof req.params === "object" && req.params !== null && "name" in req.params ? req.params.name : undefined;
    req.auditObject = typeof rawName === "string" ? `${contract[name].path.split("/")[1]}/${scope.qualify(rawName).slice(0, 130)}` : null;
    const call = parse();
    const any = anyCall(call);
    scope.authorize(routeScopes[name], any.name === "changeState" || any.name === "bulkAction" ? any.body.action : undefined);
    if (s.fleet) {
      const forwarded = await forwardToOwner(s.fleet, name, req, reply, scope, rawName);
      if (forwarded) return forwarded.body; // the owner presented it for the caller already
    }
    const result = await h[name](call, edge(s, scope, reply, peerRequests.has(req.raw), req));
    if (contract[name].contentType) return result; // text (a console log, metrics): names in it are the caller's already, and guest text is never rewritten
    return scope.present(filterList(scope, anyAnswer(name, result)));
  });
}
