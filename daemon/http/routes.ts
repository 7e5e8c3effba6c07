import type { FastifyInstance, FastifyReply } from "fastify";
import { CAPABILITIES, PROTOCOL_VERSION } from "../../protocol/version.js";
import { contract, routeScopes, type ResponseIn, type RouteName } from "../../protocol/contract.js";
import type { InstanceView } from "../../protocol/instances.js";
import type { ActionResult } from "../../protocol/operations.js";
import { openApiDocument } from "../../protocol/openapi.js";
import type { Usage } from "../../core/store/tenants-repo.js";
import { UmldError } from "../../core/errors.js";
import { scopeOf } from "../app.js";
import type { Scope } from "../auth/scope.js";
import type { Services } from "../services.js";
import { anyAnswer, anyCall, registerContract, type AnyAnswer, type AnyCall, type Call } from "./register.js";

/** A parsed call and who makes it. */
type Parsed<N extends RouteName> = Call<N> & { scope: Scope };
type Handler<N extends RouteName> = (p: Parsed<N>, reply: FastifyReply) => Promise<ResponseIn<N>> | ResponseIn<N>;
type Handlers = { [N in RouteName]: Handler<N> };
type AnyParsed = AnyCall & { scope: Scope };

/** A handler for a long action: waits for it unless the body says wait=false, then answers 202 at once. */
function waitable<P extends { body: { wait: boolean } }, R>(run: (p: P) => Promise<R>): (p: P, reply: FastifyReply) => Promise<R> {
  return async (p, reply) => {
    const result = await run(p);
    if (!p.body.wait) reply.code(202);
    return result;
  };
}

type Executed = Awaited<ReturnType<Services["manager"]["execute"]>>;
/** execute() answers every command kind with one union: these pick the member each command yields. */
async function instanceOf(r: Promise<Executed>): Promise<InstanceView> {
  const v = await r;
  if ("state" in v) return v;
  throw new UmldError("internal", "create did not answer an instance");
}
async function actionOf(r: Promise<Executed>): Promise<ActionResult> {
  const v = await r;
  if ("operation" in v) return v;
  throw new UmldError("internal", "a state change did not answer an operation");
}
async function deletedOf(r: Promise<Executed>): Promise<{ deleted: string }> {
  const v = await r;
  if ("deleted" in v) return v;
  throw new UmldError("internal", "delete did not answer what it deleted");
}

/** Route handlers: each translates a request into the core command vocabulary or a query. */
function handlers(s: Services): Handlers {
  return {
    health: (p) => {
      if (p.scope.prefix === null) return { status: "ok", uptime: process.uptime(), instances: s.manager.counts() };
      const own = s.manager.list().filter((i) => p.scope.sees(i.name)); // a tenant counts its own guests only
      return { status: "ok", uptime: process.uptime(), instances: { total: own.length, running: own.filter((i) => i.pid !== null).length } };
    },
    version: () => ({ protocolVersion: PROTOCOL_VERSION, daemonVersion: s.daemonVersion, capabilities: [...CAPABILITIES] }),
    openapi: () => openApiDocument(),
    listInstances: () => ({ instances: s.manager.list() }),
    createInstance: ({ body: b }) =>
      instanceOf(s.manager.execute({ kind: "create", name: b.name, memoryMiB: b.memoryMiB, maxMemoryMiB: b.maxMemoryMiB, diskQuotaMiB: b.diskQuotaMiB, policy: b, image: b.image, kernel: b.kernel, bootOptions: b.bootOptions })),
    getInstance: (p) => s.manager.get(p.params.name),
    deleteInstance: (p) => deletedOf(s.manager.execute({ kind: "delete", name: p.params.name, force: p.query.force === "true" })),
    changeState: waitable((p: Parsed<"changeState">) =>
      actionOf(s.manager.execute({ kind: "action", name: p.params.name, action: p.body.action, timeoutS: p.body.timeoutS, wait: p.body.wait, kernel: p.body.kernel, deadlineS: p.body.deadlineS })),
    ),
    getOperation: (p) => s.operations.get(p.params.id),
    listImages: () => ({ images: s.images.list() }),
    importImage: waitable((p: Parsed<"importImage">) => s.images.import(p.body)),
    deleteImage: (p) => s.images.delete(p.params.name),
    buildImage: waitable((p: Parsed<"buildImage">) => s.images.build(p.body)),
    verifyImage: (p) => s.images.verify(p.params.name, s.manager.disks.list()),
    listKernels: () => ({ kernels: s.catalog.listKernels() }),
    patchInstance: (p) => s.manager.patch(p.params.name, p.body),
    getMemory: (p) => s.manager.memory.view(p.params.name),
    mconsole: (p) => s.manager.passthrough(p.params.name, p.body),
    guestFacts: (p) => s.manager.guestFacts(p.params.name),
    listDisks: () => ({ disks: s.manager.disks.list() }),
    deleteDisk: (p) => s.manager.disks.delete(p.params.name),
    attachDisk: (p) => s.manager.disks.attach(p.params.name, p.body),
    detachDisk: (p) => s.manager.disks.detach(p.params.name, p.params.slot),
    registerKernel: ({ body: b }) => s.catalog.registerKernel(b.name, b.path, b.makeDefault),
    deleteKernel: (p) => {
      s.catalog.deleteKernel(p.params.name, (id) => s.manager.kernelUsers(id));
      return { deleted: p.params.name };
    },
    listChannels: (p) => ({ channels: s.manager.listChannels(p.params.name) }),
    addChannel: (p) => s.manager.addChannel(p.params.name, p.body.channel),
    removeChannel: (p) => s.manager.removeChannel(p.params.name, p.params.channel),
    listNetworks: () => ({ networks: s.manager.networks.list() }),
    createNetwork: ({ body: b }) => s.manager.networks.create(b.name, b.kind, b.subnet, b.nat, b.hostAccess),
    deleteNetwork: (p) => s.manager.networks.delete(p.params.name),
    attachNic: (p) => s.manager.networks.attach(p.params.name, p.body.network, p.body.mac),
    detachNic: (p) => s.manager.networks.detach(p.params.name, p.params.slot),
    shutdownGuests: (p) => s.manager.shutdownGuests(p.body.deadlineS),
    listSnapshots: (p) => ({ snapshots: s.manager.snapshots.list(p.params.name) }),
    createSnapshot: waitable((p: Parsed<"createSnapshot">) => s.manager.snapshots.snapshot(p.params.name, p.body.name, p.body.wait)),
    restoreSnapshot: (p) => s.manager.snapshots.restore(p.params.name, p.params.snapshot),
    deleteSnapshot: (p) => s.manager.snapshots.deleteSnapshot(p.params.name, p.params.snapshot),
    cloneInstance: waitable((p: Parsed<"cloneInstance">) => s.manager.snapshots.clone(p.params.name, p.body)),
    mergeDisk: waitable((p: Parsed<"mergeDisk">) => s.manager.snapshots.merge(p.params.name, p.body)),
    rollout: waitable((p: Parsed<"rollout">) => s.manager.rollout(p.params.name, p.body.selector, p.body.batchSize, p.body.deadlineS, p.body.wait)),
    listTenants: () => ({ tenants: s.tenants.list() }),
    createTenant: ({ body: b }) => s.tenants.create(b.name, b.quotas),
    getTenant: (p) => {
      const t = p.params.tenant;
      if (p.scope.principal.kind === "tenant" && p.scope.principal.tenant !== t) throw new UmldError("tenant_not_found", `no tenant named '${t}'`, { tenant: t });
      return s.tenants.get(t);
    },
    patchTenant: (p) => s.tenants.update(p.params.tenant, p.body.quotas),
    deleteTenant: (p) => s.tenants.delete(p.params.tenant),
    listTokens: (p) => ({ tokens: s.tenants.listTokens(p.params.tenant) }),
    createToken: ({ params, body: b }) => s.tenants.createToken(params.tenant, b.name, b.actions, b.expiresInS),
    revokeToken: (p) => s.tenants.revokeToken(p.params.tenant, p.params.token),
    listAudit: ({ query: q }) => ({ entries: s.tenants.auditLog(q.limit, q.tenant, q.before) }),
  };
}

const MiB = 1024 * 1024;

/** MiB a file of this many bytes counts for. */
const mib = (bytes: number) => Math.ceil(bytes / MiB);

/** Virtual size of an instance's root disk: what a flatten of it writes. */
function rootMiB(s: Services, name: string): number {
  return mib(s.manager.get(name).disks.find((d) => d.slot === "ubda")?.sizeBytes ?? 0);
}

/**
 * What a request would add to its tenant's usage (checked and reserved before
 * it runs): instances, memory, and every byte it makes on disk, including
 * images (snapshots, clone bases, merges) the tenant then owns.
 */
function quotaDelta(s: Services, p: AnyParsed): Partial<Usage> | null {
  switch (p.name) {
    case "createInstance": {
      const b = p.body;
      return { instances: 1, memoryMiB: b.maxMemoryMiB ?? b.memoryMiB, diskMiB: b.diskQuotaMiB ?? mib(s.catalog.image(b.image).size_bytes) };
    }
    case "cloneInstance": {
      const b = p.body;
      const src = s.manager.row(p.params.name);
      // the clone boots with max(memoryMiB, the source's boot size) (snapshots.ts)
      const memoryMiB = Math.max(b.memoryMiB ?? 0, src.max_memory_mib);
      if (b.snapshot !== undefined) {
        const snap = s.manager.snapshots.list(src.name).find((x) => x.name === b.snapshot);
        return { instances: 1, memoryMiB, diskMiB: snap ? mib(snap.sizeBytes) : 0 };
      }
      const root = rootMiB(s, src.name);
      return { instances: 1, memoryMiB, diskMiB: 2 * root }; // a full copy (an image it owns) and the clone's disk over it
    }
    case "patchInstance": {
      const b = p.body;
      const row = s.manager.row(p.params.name);
      const mem = b.maxMemoryMiB !== undefined ? Math.max(0, b.maxMemoryMiB - row.max_memory_mib) : 0;
      let disk = 0;
      if (b.diskQuotaMiB !== undefined) {
        // no per-instance quota counts as the image's size (tenants-repo usage): the delta is what the count changes by
        const imageMiB = mib(s.catalog.imageById(row.image_id)!.size_bytes);
        disk = Math.max(0, (b.diskQuotaMiB ?? imageMiB) - (row.disk_quota_mib ?? imageMiB));
      }
      return mem || disk ? { memoryMiB: mem, diskMiB: disk } : null;
    }
    case "createSnapshot":
      return { snapshots: 1, diskMiB: rootMiB(s, p.params.name) };
    case "mergeDisk":
      return p.body.shared ? null : { diskMiB: rootMiB(s, p.params.name) };
    case "attachDisk": {
      const b = p.body;
      if (b.sizeMiB !== undefined) return { diskMiB: b.sizeMiB };
      if (b.image !== undefined) return { diskMiB: mib(s.catalog.image(b.image).size_bytes) };
      return null; // an existing disk of its own: counted already
    }
    default:
      return null;
  }
}

function releaseWhenDone(s: Services, opId: string, release: () => void): boolean {
  const onEvent = (e: { type: string; operation?: { id: string; status: string } }) => {
    if (e.type === "operation" && e.operation?.id === opId && e.operation.status !== "running") {
      s.bus.off("event", onEvent);
      release();
    }
  };
  s.bus.on("event", onEvent);
  if (s.operations.get(opId).status !== "running") {
    s.bus.off("event", onEvent);
    return false;
  }
  return true;
}

/** The operation of an answer that carries one (the long actions' answers). */
function operationOf(result: unknown): { id: string; status: string } | null {
  if (typeof result !== "object" || result === null || !("operation" in result)) return null;
  const op = result.operation;
  if (typeof op !== "object" || op === null || !("id" in op) || !("status" in op)) return null;
  return typeof op.id === "string" && typeof op.status === "string" ? { id: op.id, status: op.status } : null;
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
    case "listDisks":
      return { ...a.result, disks: a.result.disks.filter((x) => scope.sees(x.name)) };
    case "listNetworks":
      return { ...a.result, networks: a.result.networks.filter((x) => scope.sees(x.name)) };
    default:
      return a.result;
  }
}

/**
 * Image names a tenant sends are resolved through the image's owner: its own
 * image, or (to use, not to delete) one of the shared catalogue. Core gets
 * the stored name; anything else is image_not_found, exactly as if absent.
 */
function resolveImages(s: Services, scope: Scope, p: AnyParsed): void {
  const tenant = scope.principal.tenant;
  if (tenant === null) return;
  if (p.name === "createInstance") p.body.image = s.catalog.imageFor(p.body.image, tenant, "use").name;
  if (p.name === "attachDisk" && p.body.image !== undefined) p.body.image = s.catalog.imageFor(p.body.image, tenant, "use").name;
  if (p.name === "deleteImage") p.params.name = s.catalog.imageFor(p.params.name, tenant, "own").name;
  if (p.name === "verifyImage") p.params.name = s.catalog.imageFor(p.params.name, tenant, "use").name;
}

/** What a tenant may not ask of a route it may otherwise use: it changes the host itself. */
function adminOnlyParts(p: AnyParsed): void {
  if (p.name === "patchInstance" && p.body.hostfsDir !== undefined) {
    throw new UmldError("forbidden", "host directories are granted by admins", { needs: "admin", field: "hostfsDir" });
  }
  if (p.name === "createNetwork" && p.body.kind === "host") {
    // a bridge, firewall rules and forwarding: an admin makes them (acting for the tenant)
    throw new UmldError("forbidden", "host networks are created by admins; tenants create switch and user networks", { needs: "admin", kind: "host" });
  }
  if (p.name === "createNetwork" && p.body.hostAccess === true) {
    // the host's own services (its loopback, every address it listens on): an admin decides who reaches them
    throw new UmldError("forbidden", "host access for a user network is granted by admins", { needs: "admin", field: "hostAccess" });
  }
}

/** Tenants name only their own things: owned params and body fields get the tenant's prefix. */
function qualify(scope: Scope, p: AnyParsed): void {
  const owned = routeScopes[p.name].owned;
  if (!owned || scope.prefix === null) return;
  const params: Record<string, unknown> | undefined = p.params;
  const body: Record<string, unknown> | undefined = p.body;
  for (const k of owned.params ?? []) {
    const v = params?.[k];
    if (params && typeof v === "string") params[k] = scope.qualify(v);
  }
  for (const k of owned.body ?? []) {
    const v = body?.[k];
    if (body && typeof v === "string") body[k] = scope.qualify(v);
  }
}

/** Registers every route of the protocol table under /v1 with the tenancy, quota and presentation steps around its handler. */
export function registerRoutes(app: FastifyInstance, s: Services): void {
  const h = handlers(s);
  registerContract(app, async (name, req, reply, parse) => {
    const scope = scopeOf(req);
    req.routeName = name;
    const rawName = typeof req.params === "object" && req.params !== null && "name" in req.params ? req.params.name : undefined;
    req.auditObject = typeof rawName === "string" ? `${contract[name].path.split("/")[1]}/${scope.qualify(rawName).slice(0, 130)}` : null;
    const call = parse();
    const parsed = { ...call, scope };
    const any: AnyParsed = { ...anyCall(call), scope };
    scope.authorize(routeScopes[name], any.name === "changeState" ? any.body.action : undefined);
    if (scope.principal.kind === "tenant") adminOnlyParts(any);
    qualify(scope, any);
    resolveImages(s, scope, any);
    if (any.name === "getOperation" && scope.prefix !== null) {
      const op = s.operations.get(any.params.id);
      if (!scope.sees(op.target)) throw new UmldError("operation_not_found", `no operation ${any.params.id}`, { id: any.params.id });
    }
    const tenant = scope.principal.tenant;
    const delta = tenant ? quotaDelta(s, any) : null;
    const release = tenant && delta ? s.tenants.reserve(tenant, delta) : () => {};
    let later = false;
    try {
      const result = await h[name](parsed, reply);
      // an operation still running (wait=false) keeps its reservation until it ends
      const op = operationOf(result);
      if (delta && op && op.status === "running") later = releaseWhenDone(s, op.id, release);
      const answer = anyAnswer(name, result);
      return scope.present(filterList(scope, answer));
    } finally {
      if (!later) release();
    }
  });
}
