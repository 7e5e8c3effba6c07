import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { API_PREFIX, CAPABILITIES, PROTOCOL_VERSION } from "../../protocol/version.js";
import { routes, type RouteDef, type RouteName } from "../../protocol/routes.js";
import { CreateInstanceRequest, PatchInstanceRequest, StateActionRequest } from "../../protocol/instances.js";
import { AttachDiskRequest } from "../../protocol/disks.js";
import { BuildImageRequest, ImportImageRequest } from "../../protocol/images.js";
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
    health: () => ({ status: "ok", uptime: process.uptime(), instances: s.manager.counts() }),
    version: () => ({ protocolVersion: PROTOCOL_VERSION, daemonVersion: s.daemonVersion, capabilities: [...CAPABILITIES] }),
    listInstances: () => ({ instances: s.manager.list() }),
    createInstance: (p) => {
      const b = p.body as z.output<typeof CreateInstanceRequest>;
      return s.manager.execute({ kind: "create", name: b.name, memoryMiB: b.memoryMiB, maxMemoryMiB: b.maxMemoryMiB, diskQuotaMiB: b.diskQuotaMiB, policy: b, image: b.image, kernel: b.kernel, bootOptions: b.bootOptions });
    },
    getInstance: (p) => s.manager.get(p.params.name!),
    deleteInstance: (p) => s.manager.execute({ kind: "delete", name: p.params.name!, force: p.query.force === "true" }),
    changeState: waitable<z.output<typeof StateActionRequest>>((p, b) =>
      s.manager.execute({ kind: "action", name: p.params.name!, action: b.action, timeoutS: b.timeoutS, wait: b.wait, kernel: b.kernel, deadlineS: b.deadlineS }),
    ),
    getOperation: (p) => s.operations.get(p.params.id!),
    listImages: () => ({ images: s.images.list() }),
    importImage: waitable<z.output<typeof ImportImageRequest>>((_p, b) => s.images.import(b)),
    deleteImage: (p) => s.images.delete(p.params.name!),
    buildImage: waitable<z.output<typeof BuildImageRequest>>((_p, b) => s.images.build(b)),
    verifyImage: (p) => s.images.verify(p.params.name!, (path) => s.manager.cowsOn(path)),
    listKernels: () => ({ kernels: s.catalog.listKernels() }),
    patchInstance: (p) => s.manager.patch(p.params.name!, p.body as z.output<typeof PatchInstanceRequest>),
    getMemory: (p) => s.manager.memory.view(p.params.name!),
    mconsole: (p) => s.manager.passthrough(p.params.name!, p.body as z.output<typeof MconsoleRequest>),
    guestFacts: (p) => s.manager.guestFacts(p.params.name!),
    listDisks: () => ({ disks: s.manager.disks.list() }),
    attachDisk: (p) => s.manager.disks.attach(p.params.name!, p.body as z.output<typeof AttachDiskRequest>),
    detachDisk: (p) => s.manager.disks.detach(p.params.name!, p.params.slot!),
    registerKernel: (p) => {
      const b = p.body as z.output<typeof RegisterKernelRequest>;
      return s.catalog.registerKernel(b.name, b.path, b.makeDefault);
    },
    deleteKernel: (p) => {
      s.catalog.deleteKernel(p.params.name!, (id) => s.manager.kernelUsers(id));
      return { deleted: p.params.name! };
    },
    listChannels: (p) => ({ channels: s.manager.listChannels(p.params.name!) }),
    addChannel: (p) => s.manager.addChannel(p.params.name!, (p.body as z.output<typeof AddChannelRequest>).channel),
    removeChannel: (p) => s.manager.removeChannel(p.params.name!, p.params.channel!),
    listNetworks: () => ({ networks: s.manager.networks.list() }),
    createNetwork: (p) => {
      const b = p.body as z.output<typeof CreateNetworkRequest>;
      return s.manager.networks.create(b.name, b.kind, b.subnet, b.nat);
    },
    deleteNetwork: (p) => s.manager.networks.delete(p.params.name!),
    attachNic: (p) => s.manager.networks.attach(p.params.name!, (p.body as { network: string }).network),
    detachNic: (p) => s.manager.networks.detach(p.params.name!, p.params.slot!),
    shutdownGuests: (p) => s.manager.shutdownGuests((p.body as { deadlineS: number }).deadlineS),
    listSnapshots: (p) => ({ snapshots: s.manager.snapshots.list(p.params.name!) }),
    createSnapshot: waitable<z.output<typeof CreateSnapshotRequest>>((p, b) => s.manager.snapshots.snapshot(p.params.name!, b.name, b.wait)),
    restoreSnapshot: (p) => s.manager.snapshots.restore(p.params.name!, p.params.snapshot!),
    deleteSnapshot: (p) => s.manager.snapshots.deleteSnapshot(p.params.name!, p.params.snapshot!),
    cloneInstance: waitable<z.output<typeof CloneRequest>>((p, b) => s.manager.snapshots.clone(p.params.name!, b)),
    mergeDisk: waitable<z.output<typeof MergeRequest>>((p, b) => s.manager.snapshots.merge(p.params.name!, b)),
    rollout: waitable<z.output<typeof RolloutRequest>>((p, b) => s.manager.rollout(p.params.name!, b.selector, b.batchSize, b.deadlineS, b.wait)),
  };
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
        const parsed: Parsed = {
          params: parsePart(def.params, req.params, "params") as Record<string, string>,
          query: parsePart(def.query, def.query ? req.query : {}, "query") as Record<string, string>,
          body: parsePart(def.body, req.body, "body"),
        };
        reply.code(def.status);
        return h[name](parsed, reply);
      },
    });
  }
}
