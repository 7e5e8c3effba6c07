import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { API_PREFIX, CAPABILITIES, PROTOCOL_VERSION } from "../../protocol/version.js";
import { routes, routeScopes, type RouteDef, type RouteName } from "../../protocol/routes.js";
import type { Usage } from "../../core/store/tenants-repo.js";
import { CreateTenantRequest, CreateTokenRequest, PatchTenantRequest, type AuditQuery } from "../../protocol/tenants.js";
import { UmldError } from "../../core/errors.js";
import { scopeOf } from "../app.js";
import type { Scope } from "../auth/scope.js";
import { CreateInstanceRequest, PatchInstanceRequest, StateActionRequest } from "../../protocol/instances.js";
import { AttachDiskRequest } from "../../protocol/disks.js";
import { BuildImageRequest, ImportImageRequest, type ImageView } from "../../protocol/images.js";
import { CloneRequest, CreateSnapshotRequest, MergeRequest } from "../../protocol/snapshots.js";
import { CreateNetworkRequest } from "../../protocol/networks.js";
import { RegisterKernelRequest, RolloutRequest } from "../../protocol/kernels.js";
import { AddChannelRequest, MconsoleRequest } from "../../protocol/guest.js";
import type { z } from "zod";
import type { Services } from "../services.js";
import { validationError } from "./errors.js";

interface Parsed {
  params: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
  scope: Scope;
}
type Handler = (p: Parsed, reply: FastifyReply) => Promise<unknown> | unknown;

/** A handler for a long action: waits for it unless the body says wait=false, then answers 202 at once. */
function waitable<B extends { wait: boolean }>(run: (p: Parsed, body: B) => Promise<unknown>): Handler {
  return async (p, reply) => {
    const body = p.body as B;
    const result = await run(p, body);
    if (!body.wait) reply.code(202);
    return result;
  };
}

/** Route handlers: each translates a request into the core command vocabulary or a query. */
function handlers(s: Services): Record<RouteName, Handler> {
  return {
    health: (p) => {
      if (p.scope.prefix === null) return { status: "ok", uptime: process.uptime(), instances: s.instances.counts() };
      const own = s.instances.list().filter((i) => p.scope.sees(i.name)); // a tenant counts its own guests only
      return { status: "ok", uptime: process.uptime(), instances: { total: own.length, running: own.filter((i) => i.pid !== null).length } };
    },
    version: () => ({ protocolVersion: PROTOCOL_VERSION, daemonVersion: s.daemonVersion, capabilities: [...CAPABILITIES] }),
    listInstances: () => ({ instances: s.instances.list() }),
    createInstance: (p) => {
      const b = p.body as z.output<typeof CreateInstanceRequest>;
      return s.instances.create({ name: b.name, memoryMiB: b.memoryMiB, maxMemoryMiB: b.maxMemoryMiB, diskQuotaMiB: b.diskQuotaMiB, limits: b.limits, policy: b, image: b.image, kernel: b.kernel, bootOptions: b.bootOptions });
    },
    getInstance: (p) => s.instances.get(p.params.name!),
    deleteInstance: (p) => s.instances.delete(p.params.name!, p.query.force === "true"),
    changeState: waitable<z.output<typeof StateActionRequest>>((p, b) =>
      s.instances.act(p.params.name!, b.action, { timeoutS: b.timeoutS, wait: b.wait, kernel: b.kernel, deadlineS: b.deadlineS }),
    ),
    getOperation: (p) => s.operations.get(p.params.id!),
    listImages: () => ({ images: s.images.list() }),
    importImage: waitable<z.output<typeof ImportImageRequest>>((_p, b) => s.images.import(b)),
    deleteImage: (p) => s.images.delete(p.params.name!),
    buildImage: waitable<z.output<typeof BuildImageRequest>>((_p, b) => s.images.build(b)),
    verifyImage: (p) => s.images.verify(p.params.name!, s.instances.disks.list()),
    listKernels: () => ({ kernels: s.catalog.listKernels() }),
    patchInstance: (p) => s.instances.patch(p.params.name!, p.body as z.output<typeof PatchInstanceRequest>),
    getMemory: (p) => s.instances.memory.view(p.params.name!),
    mconsole: (p) => s.instances.passthrough(p.params.name!, p.body as z.output<typeof MconsoleRequest>),
    guestFacts: (p) => s.instances.guestFacts(p.params.name!),
    listDisks: () => ({ disks: s.instances.disks.list() }),
    deleteDisk: (p) => s.instances.disks.delete(p.params.name!),
    attachDisk: (p) => s.instances.disks.attach(p.params.name!, p.body as z.output<typeof AttachDiskRequest>),
    detachDisk: (p) => s.instances.disks.detach(p.params.name!, p.params.slot!),
    registerKernel: (p) => {
      const b = p.body as z.output<typeof RegisterKernelRequest>;
      return s.catalog.registerKernel(b.name, b.path, b.makeDefault);
    },
    deleteKernel: (p) => {
      s.catalog.deleteKernel(p.params.name!, (id) => s.instances.kernelUsers(id));
      return { deleted: p.params.name! };
    },
    listChannels: (p) => ({ channels: s.instances.listChannels(p.params.name!) }),
    addChannel: (p) => s.instances.addChannel(p.params.name!, (p.body as z.output<typeof AddChannelRequest>).channel),
    removeChannel: (p) => s.instances.removeChannel(p.params.name!, p.params.channel!),
    listNetworks: () => ({ networks: s.instances.networks.list() }),
    createNetwork: (p) => {
      const b = p.body as z.output<typeof CreateNetworkRequest>;
      return s.instances.networks.create(b.name, b.kind, b.subnet, b.nat, b.hostAccess);
    },
    deleteNetwork: (p) => s.instances.networks.delete(p.params.name!),
    attachNic: (p) => {
      const b = p.body as { network: string; mac?: string };
      return s.instances.networks.attach(p.params.name!, b.network, b.mac);
    },
    detachNic: (p) => s.instances.networks.detach(p.params.name!, p.params.slot!),
    shutdownGuests: (p) => s.instances.shutdownGuests((p.body as { deadlineS: number }).deadlineS),
    listSnapshots: (p) => ({ snapshots: s.instances.snapshots.list(p.params.name!) }),
    createSnapshot: waitable<z.output<typeof CreateSnapshotRequest>>((p, b) => s.instances.snapshots.snapshot(p.params.name!, b.name, b.wait)),
    restoreSnapshot: (p) => s.instances.snapshots.restore(p.params.name!, p.params.snapshot!),
    deleteSnapshot: (p) => s.instances.snapshots.deleteSnapshot(p.params.name!, p.params.snapshot!),
    cloneInstance: waitable<z.output<typeof CloneRequest>>((p, b) => s.instances.snapshots.clone(p.params.name!, b)),
    mergeDisk: waitable<z.output<typeof MergeRequest>>((p, b) => s.instances.snapshots.merge(p.params.name!, b)),
    rollout: waitable<z.output<typeof RolloutRequest>>((p, b) => s.instances.rollout(p.params.name!, b.selector, b.batchSize, b.deadlineS, b.wait)),
    listTenants: () => ({ tenants: s.tenants.list() }),
    createTenant: (p) => {
      const b = p.body as z.output<typeof CreateTenantRequest>;
      return s.tenants.create(b.name, b.quotas);
    },
    getTenant: (p) => {
      const t = p.params.tenant!;
      if (p.scope.principal.kind === "tenant" && p.scope.principal.tenant !== t) throw new UmldError("tenant_not_found", `no tenant named '${t}'`, { tenant: t });
      return s.tenants.get(t);
    },
    patchTenant: (p) => {
      const b = p.body as z.output<typeof PatchTenantRequest>;
      return s.tenants.update(p.params.tenant!, b.quotas);
    },
    deleteTenant: (p) => s.tenants.delete(p.params.tenant!),
    listTokens: (p) => ({ tokens: s.tenants.listTokens(p.params.tenant!) }),
    createToken: (p) => {
      const b = p.body as z.output<typeof CreateTokenRequest>;
      return s.tenants.createToken(p.params.tenant!, b.name, b.actions, b.expiresInS);
    },
    revokeToken: (p) => s.tenants.revokeToken(p.params.tenant!, p.params.token!),
    listAudit: (p) => {
      const q = p.query as unknown as z.output<typeof AuditQuery>;
      return { entries: s.tenants.auditLog(q.limit, q.tenant, q.before) };
    },
  };
}

const MiB = 1024 * 1024;

/** MiB a file of this many bytes counts for. */
const mib = (bytes: number) => Math.ceil(bytes / MiB);

/** Virtual size of an instance's root disk: what a flatten of it writes. */
function rootMiB(s: Services, name: string): number {
  return mib(s.instances.get(name).disks.find((d) => d.slot === "ubda")?.sizeBytes ?? 0);
}

/**
 * What a request would add to its tenant's usage (checked and reserved before
 * it runs): instances, memory, and every byte it makes on disk, including
 * images (snapshots, clone bases, merges) the tenant then owns.
 */
function quotaDelta(s: Services, name: RouteName, p: Parsed): Partial<Usage> | null {
  switch (name) {
    case "createInstance": {
      const b = p.body as z.output<typeof CreateInstanceRequest>;
      return { instances: 1, memoryMiB: b.maxMemoryMiB ?? b.memoryMiB, diskMiB: b.diskQuotaMiB ?? mib(s.catalog.image(b.image).size_bytes) };
    }
    case "cloneInstance": {
      const b = p.body as z.output<typeof CloneRequest>;
      const src = s.instances.row(p.params.name!);
      // the clone boots with max(memoryMiB, the source's boot size) (snapshots.ts)
      const memoryMiB = Math.max(b.memoryMiB ?? 0, src.max_memory_mib);
      if (b.snapshot !== undefined) {
        const snap = s.instances.snapshots.list(src.name).find((x) => x.name === b.snapshot);
        return { instances: 1, memoryMiB, diskMiB: snap ? mib(snap.sizeBytes) : 0 };
      }
      const root = rootMiB(s, src.name);
      return { instances: 1, memoryMiB, diskMiB: 2 * root }; // a full copy (an image it owns) and the clone's disk over it
    }
    case "patchInstance": {
      const b = p.body as z.output<typeof PatchInstanceRequest>;
      const row = s.instances.row(p.params.name!);
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
      return { snapshots: 1, diskMiB: rootMiB(s, p.params.name!) };
    case "mergeDisk":
      return (p.body as z.output<typeof MergeRequest>).shared ? null : { diskMiB: rootMiB(s, p.params.name!) };
    case "attachDisk": {
      const b = p.body as z.output<typeof AttachDiskRequest>;
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

/** A list answer holds only what the principal may see. */
function filterList(scope: Scope, name: RouteName, result: unknown): unknown {
  const key = routeScopes[name].list;
  if (!key || scope.prefix === null) return result;
  const r = result as Record<string, Array<{ name: string; dependants?: string[] }>>;
  if (name === "listImages") {
    // its own and the shared catalogue, by owner; a shared image lists only the tenant's own dependants
    const own = (d: string) => scope.sees(d.replace(/^disk:/, ""));
    const images = r.images as unknown as Array<ImageView>;
    return { ...r, images: images.filter((x) => scope.seesImage(x)).map((x) => ({ ...x, dependants: x.dependants.filter(own) })) };
  }
  return { ...r, [key]: r[key]!.filter((x) => scope.sees(x.name)) };
}

/**
 * Image names a tenant sends are resolved through the image's owner: its own
 * image, or (to use, not to delete) one of the shared catalogue. Core gets
 * the stored name; anything else is image_not_found, exactly as if absent.
 */
function resolveImages(s: Services, scope: Scope, name: RouteName, p: Parsed): void {
  const tenant = scope.principal.tenant;
  if (tenant === null) return;
  const body = p.body as { image?: string } | undefined;
  if (name === "createInstance") body!.image = s.catalog.imageFor(body!.image, tenant, "use").name;
  if (name === "attachDisk" && body?.image !== undefined) body.image = s.catalog.imageFor(body.image, tenant, "use").name;
  if (name === "deleteImage") p.params.name = s.catalog.imageFor(p.params.name!, tenant, "own").name;
  if (name === "verifyImage") p.params.name = s.catalog.imageFor(p.params.name!, tenant, "use").name;
}

/** What a tenant may not ask of a route it may otherwise use: it changes the host itself. */
function adminOnlyParts(name: RouteName, p: Parsed): void {
  const body = p.body as { hostfsDir?: unknown; kind?: string; hostAccess?: boolean } | undefined;
  if (name === "patchInstance" && body?.hostfsDir !== undefined) {
    throw new UmldError("forbidden", "host directories are granted by admins", { needs: "admin", field: "hostfsDir" });
  }
  if (name === "createNetwork" && body?.kind === "host") {
    // a bridge, firewall rules and forwarding: an admin makes them (acting for the tenant)
    throw new UmldError("forbidden", "host networks are created by admins; tenants create switch and user networks", { needs: "admin", kind: "host" });
  }
  if (name === "createNetwork" && body?.hostAccess === true) {
    // the host's own services (its loopback, every address it listens on): an admin decides who reaches them
    throw new UmldError("forbidden", "host access for a user network is granted by admins", { needs: "admin", field: "hostAccess" });
  }
}

/** Tenants name only their own things: owned params and body fields get the tenant's prefix. */
function qualify(scope: Scope, name: RouteName, p: Parsed): void {
  const owned = routeScopes[name].owned;
  if (!owned || scope.prefix === null) return;
  for (const k of owned.params ?? []) if (typeof p.params[k] === "string") p.params[k] = scope.qualify(p.params[k]!);
  const body = p.body as Record<string, unknown> | undefined;
  for (const k of owned.body ?? []) if (body && typeof body[k] === "string") body[k] = scope.qualify(body[k] as string);
}

function parsePart(schema: z.ZodType | undefined, value: unknown, where: "body" | "params" | "query"): unknown {
  if (!schema) return value;
  const r = schema.safeParse(value ?? (where === "body" ? undefined : {}));
  if (!r.success) throw validationError(where, r.error);
  return r.data;
}

/** Registers every route of the protocol table under /v1, validating params, query and body with its zod schemas. */
export function registerRoutes(app: FastifyInstance, s: Services): void {
  const h = handlers(s);
  for (const [name, def] of Object.entries(routes) as Array<[RouteName, RouteDef]>) {
    app.route({
      method: def.method,
      url: API_PREFIX + def.path,
      handler: async (req: FastifyRequest, reply: FastifyReply) => {
        const scope = scopeOf(req);
        req.routeName = name;
        const rawName = (req.params as Record<string, unknown> | undefined)?.name;
        req.auditObject = typeof rawName === "string" ? `${def.path.split("/")[1]}/${scope.qualify(rawName).slice(0, 130)}` : null;
        const parsed: Parsed = {
          params: parsePart(def.params, req.params, "params") as Record<string, string>,
          query: parsePart(def.query, def.query ? req.query : {}, "query") as Record<string, string>,
          body: parsePart(def.body, req.body, "body"),
          scope,
        };
        scope.authorize(routeScopes[name], name === "changeState" ? (parsed.body as { action: string }).action : undefined);
        if (scope.principal.kind === "tenant") adminOnlyParts(name, parsed);
        qualify(scope, name, parsed);
        resolveImages(s, scope, name, parsed);
        if (name === "getOperation" && scope.prefix !== null) {
          const op = s.operations.get(parsed.params.id!);
          if (!scope.sees(op.target)) throw new UmldError("operation_not_found", `no operation ${parsed.params.id}`, { id: parsed.params.id });
        }
        const delta = scope.principal.tenant ? quotaDelta(s, name, parsed) : null;
        const release = delta ? s.tenants.reserve(scope.principal.tenant!, delta) : () => {};
        let later = false;
        try {
          reply.code(def.status);
          const result = await h[name](parsed, reply);
          // an operation still running (wait=false) keeps its reservation until it ends
          const op = (result as { operation?: { id: string; status: string } } | null)?.operation;
          if (delta && op && op.status === "running") later = releaseWhenDone(s, op.id, release);
          return scope.present(filterList(scope, name, result));
        } finally {
          if (!later) release();
        }
      },
    });
  }
}
