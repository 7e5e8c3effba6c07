import type { z } from "zod";
import { ErrorBody, type ERRORS, type ErrorCode } from "./errors.js";
import { HealthView, VersionView } from "./version.js";
import { CreateInstanceRequest, DeleteInstanceQuery, InstanceList, InstanceNameParams, InstanceView, MemoryView, PatchInstanceRequest, PatchInstanceResult, StateActionRequest } from "./instances.js";
import { ActionResult, OperationIdParams, OperationView } from "./operations.js";
import { BulkActionRequest, BulkActionResult } from "./bulk-actions.js";
import { BuildImageRequest, ImageList, ImageNameParams, ImageOperation, ImportImageRequest, KernelList, KernelView, VerifyResult } from "./images.js";
import { AttachDiskRequest, AttachmentView, DataDiskList, DetachDiskResult, DiskNameParams, DiskSlotParams } from "./disks.js";
import { KernelNameParams, RegisterKernelRequest, RolloutOperation, RolloutRequest } from "./kernels.js";
import {
  AttachNicRequest,
  AttachNicResult,
  CreateForwardRequest,
  CreateNetworkRequest,
  DeletedForward,
  ForwardList,
  ForwardParams,
  ForwardQuery,
  ForwardView,
  NetworkList,
  NetworkNameParams,
  NetworkView,
  NicSlotParams,
} from "./networks.js";
import { CloneOperation, CloneRequest, CreateSnapshotRequest, MergeOperation, MergeRequest, SnapshotList, SnapshotOperation, SnapshotParams } from "./snapshots.js";
import { AddChannelRequest, ChannelList, ChannelParams, ChannelView, ConsoleQuery, GuestFacts, MconsoleRequest, MconsoleResponse, RemoveChannelResult } from "./guest.js";
import {
  AuditList,
  AuditQuery,
  CreatedToken,
  CreateTenantRequest,
  CreateTokenRequest,
  PatchTenantRequest,
  TenantList,
  TenantParams,
  TenantView,
  TokenList,
  TokenParams,
  TokenView,
  WhoAmI,
  type Access,
} from "./tenants.js";
import { Event, EventsQuery } from "./events.js";
import { ConsoleLogQuery, ConsoleLogText, InstanceUsage, METRICS_CONTENT_TYPE, MetricsText, UsageList } from "./usage.js";
import { Deleted, DetachedResult, HostView, OpenApiDocument, ShutdownGuestsRequest, ShutdownGuestsResult } from "./host.js";
import { DrainOperation, DrainRequest, HostList, HostNameParams, MigrateOperation, MigrateRequest } from "./fleet.js";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
/** Every status an error answer may have (the registry's). */
export type ErrorStatus = (typeof ERRORS)[ErrorCode]["status"];
export type SuccessStatus = 200 | 201;

/** One endpoint as written below; `route()` adds its full `responses`. */
interface RouteSpec {
  method: Method;
  /** relative to /v1; `:x` is a path parameter */
  path: string;
  summary: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** the success status and its body */
  status: SuccessStatus;
  response: z.ZodType;
  /** a long action: with `wait: false` in the body it answers 202 at once, with the same body (the operation still running) */
  waitable?: true;
  /** error statuses particular to this route; those every route may give are added (see ERRORS_OF_EVERY_ROUTE) */
  errors?: readonly ErrorStatus[];
  /** the success answer's media type when it is not JSON (its schema is then a string); errors stay JSON */
  contentType?: string;
  /** served at `path` itself, not under /v1 (GET /metrics, where Prometheus looks) */
  unversioned?: true;
}

/**
 * Every HTTP endpoint, as data: the daemon registers, validates and
 * serializes routes from it, the client is typed from it, the OpenAPI
 * document and docs/protocol.md's tables are generated from it.
 */
export interface RouteDef extends RouteSpec {
  /** every answer by status: the success body (and 202 for waitable routes), ErrorBody for each error status */
  responses: Readonly<Partial<Record<number, z.ZodType>>>;
}

/**
 * Error statuses any route may answer: 400 (a malformed Umld-Tenant header,
 * or invalid params/query/body), 401, 403 (a tenant token naming another
 * tenant in Umld-Tenant, or lacking the route's permission), 404 (an
 * unknown tenant in Umld-Tenant, or the object named in the path), 429, 500,
 * 503 (in a fleet: the host the request is for, or etcd, did not answer).
 * Routes that take a body also answer 413 and 415.
 */
export const ERRORS_OF_EVERY_ROUTE = [400, 401, 403, 404, 429, 500, 503] as const satisfies readonly ErrorStatus[];
export const ERRORS_OF_BODIES = [413, 415] as const satisfies readonly ErrorStatus[];

/** A conflict with the object's state or another object (409). */
const CONFLICT = [409] as const;
/** Talks to the running guest's kernel (mconsole): it may refuse (409), answer with an error (502) or not in time (504). */
const GUEST = [409, 502, 504] as const;

function route<const S extends RouteSpec>(spec: S): S & RouteDef {
  const errors = new Set<number>([...ERRORS_OF_EVERY_ROUTE, ...(spec.method === "GET" ? [] : ERRORS_OF_BODIES), ...(spec.errors ?? [])]);
  const responses: Record<number, z.ZodType> = { [spec.status]: spec.response };
  if (spec.waitable) responses[202] = spec.response;
  for (const status of [...errors].sort()) responses[status] = ErrorBody;
  return { ...spec, responses };
}

export const contract = {
  health: route({ method: "GET", path: "/health", summary: "Daemon liveness and instance counts (a tenant: its own instances)", response: HealthView, status: 200 }),
  version: route({ method: "GET", path: "/version", summary: "Protocol version and capability names", response: VersionView, status: 200 }),
  openapi: route({ method: "GET", path: "/openapi.json", summary: "This protocol as an OpenAPI 3.1 document (the same as docs/openapi.json)", response: OpenApiDocument, status: 200 }),
  metrics: route({
    method: "GET",
    path: "/metrics",
    unversioned: true,
    contentType: METRICS_CONTENT_TYPE,
    summary: "Prometheus metrics from cached state (admin or the metrics token: every series; a tenant token with `metrics`: its own instances')",
    response: MetricsText,
    status: 200,
  }),
  listUsage: route({ method: "GET", path: "/usage", summary: "Every instance's latest usage reading (umlctl top)", response: UsageList, status: 200 }),
  instanceUsage: route({
    method: "GET",
    path: "/instances/:name/usage",
    summary: "CPU, memory and network readings of the last hour, for graphs",
    params: InstanceNameParams,
    response: InstanceUsage,
    status: 200,
  }),
  consoleLog: route({
    method: "GET",
    path: "/instances/:name/console/log",
    contentType: "text/plain; charset=utf-8",
    summary: "The last lines of the console log (for whoever may attach the console; audited)",
    params: InstanceNameParams,
    query: ConsoleLogQuery,
    response: ConsoleLogText,
    status: 200,
  }),
  listInstances: route({ method: "GET", path: "/instances", summary: "All instances", response: InstanceList, status: 200 }),
  createInstance: route({
    method: "POST",
    path: "/instances",
    summary: "Create a stopped instance with its own COW disk over an image",
    body: CreateInstanceRequest,
    response: InstanceView,
    status: 201,
    errors: [409, 501], // 501: limits this host's cgroups cannot apply
  }),
  getInstance: route({ method: "GET", path: "/instances/:name", summary: "One instance", params: InstanceNameParams, response: InstanceView, status: 200 }),
  deleteInstance: route({
    method: "DELETE",
    path: "/instances/:name",
    summary: "Delete a stopped instance and its COW (force=true halts it first)",
    params: InstanceNameParams,
    query: DeleteInstanceQuery,
    response: Deleted,
    status: 200,
    errors: [...CONFLICT, 504],
  }),
  changeState: route({
    method: "PUT",
    path: "/instances/:name/state",
    summary: "Run a lifecycle action; waits for it unless wait=false (202)",
    params: InstanceNameParams,
    body: StateActionRequest,
    response: ActionResult,
    status: 200,
    waitable: true,
    errors: GUEST,
  }),
  bulkAction: route({
    method: "POST",
    path: "/instances/actions",
    summary: "One lifecycle action on many instances (names, or a selector), answered per instance: accepted, or why not",
    body: BulkActionRequest,
    response: BulkActionResult,
    status: 200,
  }),
  getOperation: route({ method: "GET", path: "/operations/:id", summary: "One operation", params: OperationIdParams, response: OperationView, status: 200 }),
  listImages: route({ method: "GET", path: "/images", summary: "Registered images", response: ImageList, status: 200 }),
  importImage: route({
    method: "POST",
    path: "/images",
    summary: "Import an image from a raw ext* file, a directory or a tar archive (an operation with progress)",
    body: ImportImageRequest,
    response: ImageOperation,
    status: 201,
    waitable: true,
    errors: CONFLICT,
  }),
  buildImage: route({
    method: "POST",
    path: "/images/build",
    summary: "Build a built-in image (busybox, or Debian with debootstrap) as an operation with progress",
    body: BuildImageRequest,
    response: ImageOperation,
    status: 201,
    waitable: true,
    errors: [409, 501],
  }),
  verifyImage: route({
    method: "POST",
    path: "/images/:name/verify",
    summary: "Recompute the image's sha256 and check every COW layered on it",
    params: ImageNameParams,
    response: VerifyResult,
    status: 200,
  }),
  deleteImage: route({
    method: "DELETE",
    path: "/images/:name",
    summary: "Delete an image nothing is layered on (a tenant: one of its own)",
    params: ImageNameParams,
    response: Deleted,
    status: 200,
    errors: CONFLICT,
  }),
  listKernels: route({ method: "GET", path: "/kernels", summary: "Registered kernels", response: KernelList, status: 200 }),
  patchInstance: route({
    method: "PATCH",
    path: "/instances/:name",
    summary: "Live memory target (plug/unplug), memory reclaim, boot size, staged kernel, disk quota, hostfs directory, policies, limits (CPU, I/O, processes, NIC rate; live)",
    params: InstanceNameParams,
    body: PatchInstanceRequest,
    response: PatchInstanceResult,
    status: 200,
    errors: [...GUEST, 501],
  }),
  getMemory: route({
    method: "GET",
    path: "/instances/:name/memory",
    summary: "Memory target, guest view and host use, measured now",
    params: InstanceNameParams,
    response: MemoryView,
    status: 200,
    errors: GUEST,
  }),
  mconsole: route({
    method: "POST",
    path: "/instances/:name/mconsole",
    summary: "An mconsole command answered by the guest kernel (admin passthrough)",
    params: InstanceNameParams,
    body: MconsoleRequest,
    response: MconsoleResponse,
    status: 200,
    errors: GUEST,
  }),
  guestFacts: route({
    method: "GET",
    path: "/instances/:name/guest",
    summary: "Uptime, load and memory from the guest's /proc, no agent",
    params: InstanceNameParams,
    response: GuestFacts,
    status: 200,
    errors: GUEST,
  }),
  listDisks: route({ method: "GET", path: "/disks", summary: "Data disks and where they are attached", response: DataDiskList, status: 200 }),
  deleteDisk: route({
    method: "DELETE",
    path: "/disks/:name",
    summary: "Delete a data disk no instance has attached, and its file",
    params: DiskNameParams,
    response: Deleted,
    status: 200,
    errors: CONFLICT,
  }),
  attachDisk: route({
    method: "POST",
    path: "/instances/:name/disks",
    summary: "Attach a data disk (existing, new sparse, or new COW over an image) as the next free ubdX, live if running",
    params: InstanceNameParams,
    body: AttachDiskRequest,
    response: AttachmentView,
    status: 201,
    errors: GUEST,
  }),
  detachDisk: route({
    method: "DELETE",
    path: "/instances/:name/disks/:slot",
    summary: "Detach a data disk (refused while the guest has it open); the disk itself is kept",
    params: DiskSlotParams,
    response: DetachDiskResult,
    status: 200,
    errors: GUEST,
  }),
  registerKernel: route({
    method: "POST",
    path: "/kernels",
    summary: "Copy a UML kernel binary into the store and register it",
    body: RegisterKernelRequest,
    response: KernelView,
    status: 201,
    errors: CONFLICT,
  }),
  deleteKernel: route({
    method: "DELETE",
    path: "/kernels/:name",
    summary: "Delete a kernel no instance uses",
    params: KernelNameParams,
    response: Deleted,
    status: 200,
    errors: CONFLICT,
  }),
  rollout: route({
    method: "POST",
    path: "/kernels/:name/rollout",
    summary: "Upgrade the selected instances to this kernel in batches; stops at the first failed batch",
    params: KernelNameParams,
    body: RolloutRequest,
    response: RolloutOperation,
    status: 200,
    waitable: true,
    errors: GUEST,
  }),
  listChannels: route({ method: "GET", path: "/instances/:name/consoles", summary: "Extra consoles and serial lines", params: InstanceNameParams, response: ChannelList, status: 200 }),
  addChannel: route({
    method: "POST",
    path: "/instances/:name/consoles",
    summary: "Add a console (con1..15) or serial line (ssl0..63), live if running",
    params: InstanceNameParams,
    body: AddChannelRequest,
    response: ChannelView,
    status: 201,
    errors: GUEST,
  }),
  removeChannel: route({
    method: "DELETE",
    path: "/instances/:name/consoles/:channel",
    summary: "Remove a console or serial line (refused while the guest has it open)",
    params: ChannelParams,
    response: RemoveChannelResult,
    status: 200,
    errors: GUEST,
  }),
  listNetworks: route({ method: "GET", path: "/networks", summary: "Networks and the NICs on them", response: NetworkList, status: 200 }),
  createNetwork: route({
    method: "POST",
    path: "/networks",
    summary: "Create a network (a switch or host network's bridge and tables at once)",
    body: CreateNetworkRequest,
    response: NetworkView,
    status: 201,
    errors: [409, 501],
  }),
  deleteNetwork: route({
    method: "DELETE",
    path: "/networks/:name",
    summary: "Delete a network no NIC is on (its bridge and tables removed)",
    params: NetworkNameParams,
    response: Deleted,
    status: 200,
    errors: CONFLICT,
  }),
  listForwards: route({
    method: "GET",
    path: "/networks/:name/forwards",
    summary: "The network's port forwards",
    params: NetworkNameParams,
    response: ForwardList,
    status: 200,
  }),
  createForward: route({
    method: "POST",
    path: "/networks/:name/forwards",
    summary: "Forward a host port to a guest's NIC on a NATed host network (refused when the port is taken)",
    params: NetworkNameParams,
    body: CreateForwardRequest,
    response: ForwardView,
    status: 201,
    errors: CONFLICT,
  }),
  deleteForward: route({
    method: "DELETE",
    path: "/networks/:name/forwards/:protocol/:port",
    summary: "Remove a port forward (query listenAddress when it has one)",
    params: ForwardParams,
    query: ForwardQuery,
    response: DeletedForward,
    status: 200,
  }),
  attachNic: route({
    method: "POST",
    path: "/instances/:name/nics",
    summary: "Add a NIC on a network (live if running); MAC and address allocated",
    params: InstanceNameParams,
    body: AttachNicRequest,
    response: AttachNicResult,
    status: 201,
    errors: GUEST,
  }),
  detachNic: route({
    method: "DELETE",
    path: "/instances/:name/nics/:slot",
    summary: "Remove a NIC (live: refused while the guest has it up)",
    params: NicSlotParams,
    response: DetachedResult,
    status: 200,
    errors: GUEST,
  }),
  shutdownGuests: route({
    method: "POST",
    path: "/host/shutdown-guests",
    summary: "Host shutdown: shut every guest down gracefully, halting those still up after deadlineS",
    body: ShutdownGuestsRequest,
    response: ShutdownGuestsResult,
    status: 200,
  }),
  listSnapshots: route({ method: "GET", path: "/instances/:name/snapshots", summary: "The instance's snapshots", params: InstanceNameParams, response: SnapshotList, status: 200 }),
  createSnapshot: route({
    method: "POST",
    path: "/instances/:name/snapshots",
    summary: "Snapshot the root disk into a sealed image (a running guest is synced and paused meanwhile)",
    params: InstanceNameParams,
    body: CreateSnapshotRequest,
    response: SnapshotOperation,
    status: 201,
    waitable: true,
    errors: GUEST,
  }),
  restoreSnapshot: route({
    method: "POST",
    path: "/instances/:name/snapshots/:snapshot/restore",
    summary: "Put a stopped instance back on a snapshot (a fresh COW over it)",
    params: SnapshotParams,
    response: InstanceView,
    status: 200,
    errors: CONFLICT,
  }),
  deleteSnapshot: route({
    method: "DELETE",
    path: "/instances/:name/snapshots/:snapshot",
    summary: "Delete a snapshot nothing is layered on",
    params: SnapshotParams,
    response: Deleted,
    status: 200,
    errors: CONFLICT,
  }),
  cloneInstance: route({
    method: "POST",
    path: "/instances/:name/clone",
    summary: "A new instance from a snapshot (O(1)) or from a full copy of the current disk",
    params: InstanceNameParams,
    body: CloneRequest,
    response: CloneOperation,
    status: 201,
    waitable: true,
    errors: GUEST,
  }),
  mergeDisk: route({
    method: "POST",
    path: "/instances/:name/merge",
    summary: "Flatten the root disk into a new standalone image, then (switch) move the instance onto it",
    params: InstanceNameParams,
    body: MergeRequest,
    response: MergeOperation,
    status: 201,
    waitable: true,
    errors: GUEST,
  }),
  listTenants: route({ method: "GET", path: "/tenants", summary: "Tenants with their quotas and usage (admin)", response: TenantList, status: 200 }),
  createTenant: route({ method: "POST", path: "/tenants", summary: "Create a tenant (admin)", body: CreateTenantRequest, response: TenantView, status: 201, errors: [409, 501] }),
  getTenant: route({ method: "GET", path: "/tenants/:tenant", summary: "One tenant (admin; a tenant token: its own)", params: TenantParams, response: TenantView, status: 200 }),
  patchTenant: route({
    method: "PATCH",
    path: "/tenants/:tenant",
    summary: "Change a tenant's quotas (admin)",
    params: TenantParams,
    body: PatchTenantRequest,
    response: TenantView,
    status: 200,
    errors: [409, 501], // 501: maxCpus without a CPU controller
  }),
  deleteTenant: route({
    method: "DELETE",
    path: "/tenants/:tenant",
    summary: "Delete a tenant that owns nothing; its tokens stop working (admin)",
    params: TenantParams,
    response: Deleted,
    status: 200,
    errors: CONFLICT,
  }),
  listTokens: route({ method: "GET", path: "/tenants/:tenant/tokens", summary: "A tenant's tokens, never their secrets (admin)", params: TenantParams, response: TokenList, status: 200 }),
  createToken: route({
    method: "POST",
    path: "/tenants/:tenant/tokens",
    summary: "Create a token for a tenant; the secret is in this answer only (admin)",
    params: TenantParams,
    body: CreateTokenRequest,
    response: CreatedToken,
    status: 201,
    errors: CONFLICT,
  }),
  revokeToken: route({
    method: "DELETE",
    path: "/tenants/:tenant/tokens/:token",
    summary: "Revoke a token at once (admin)",
    params: TokenParams,
    response: TokenView,
    status: 200,
  }),
  listAudit: route({
    method: "GET",
    path: "/audit",
    summary: "The audit log, newest first: every mutating call and console attach (admin)",
    query: AuditQuery,
    response: AuditList,
    status: 200,
  }),
  whoami: route({ method: "GET", path: "/whoami", summary: "Who the token is: admin or tenant, and its permissions (what the dashboard offers)", response: WhoAmI, status: 200 }),
  host: route({ method: "GET", path: "/host", summary: "The host: instances by state, memory committed to guests against the host's total and available (admin)", response: HostView, status: 200 }),
  listHosts: route({ method: "GET", path: "/hosts", summary: "The fleet's hosts: up or lost, memory, guests (admin; docs/fleet.md)", response: HostList, status: 200 }),
  drainHost: route({
    method: "POST",
    path: "/hosts/:name/drain",
    summary: "Migrate every instance off a host, each to the up host with the most free memory (admin; docs/fleet.md)",
    params: HostNameParams,
    body: DrainRequest,
    response: DrainOperation,
    status: 200,
    waitable: true,
    errors: [409, 501],
  }),
  migrateInstance: route({
    method: "POST",
    path: "/instances/:name/migrate",
    summary: "Cold-migrate an instance to another host of the fleet: shut down, copy, start there (admin; an operation with progress; docs/fleet.md)",
    params: InstanceNameParams,
    body: MigrateRequest,
    response: MigrateOperation,
    status: 200,
    waitable: true,
    errors: [409, 501],
  }),
};

export type Contract = typeof contract;
export type RouteName = keyof Contract;
export const ROUTE_NAMES = Object.keys(contract) as RouteName[];

type Part<N extends RouteName, K extends "params" | "query" | "body"> = Contract[N] extends { [P in K]: infer S extends z.ZodType } ? S : undefined;
type Out<S> = S extends z.ZodType ? z.output<S> : undefined;
type In<S> = S extends z.ZodType ? z.input<S> : undefined;

/** What the daemon gets after validation (defaults applied). */
export type ParamsOf<N extends RouteName> = Out<Part<N, "params">>;
export type QueryOf<N extends RouteName> = Out<Part<N, "query">>;
export type BodyOf<N extends RouteName> = Out<Part<N, "body">>;
/** What a client sends (before defaults). */
export type ParamsIn<N extends RouteName> = In<Part<N, "params">>;
export type QueryIn<N extends RouteName> = In<Part<N, "query">>;
export type BodyIn<N extends RouteName> = In<Part<N, "body">>;
/** The success answer as a client reads it. */
export type ResponseOf<N extends RouteName> = z.output<Contract[N]["response"]>;
/** What a handler may return for it (checked and stripped to the schema on the way out). */
export type ResponseIn<N extends RouteName> = z.input<Contract[N]["response"]>;

/**
 * Who may call each route (a write's command checks the same access again in
 * core/commands), and for list routes the array a tenant's answer is
 * filtered on. A tenant's names are put in its namespace by the daemon.
 */
export interface RouteScope {
  access: Access;
  list?: string;
}

export const routeScopes: Record<RouteName, RouteScope> = {
  health: { access: "any" },
  version: { access: "any" },
  openapi: { access: "any" },
  metrics: { access: "metrics" },
  listUsage: { access: "read", list: "instances" },
  instanceUsage: { access: "read" },
  consoleLog: { access: "console" },
  listInstances: { access: "read", list: "instances" },
  createInstance: { access: "create" },
  getInstance: { access: "read" },
  deleteInstance: { access: "delete" },
  changeState: { access: "power" },
  bulkAction: { access: "power" },
  getOperation: { access: "read" },
  listImages: { access: "read", list: "images" },
  importImage: { access: "admin" },
  buildImage: { access: "admin" },
  verifyImage: { access: "admin" },
  deleteImage: { access: "delete" },
  listKernels: { access: "read" },
  patchInstance: { access: "configure" },
  getMemory: { access: "read" },
  mconsole: { access: "admin" },
  guestFacts: { access: "read" },
  listDisks: { access: "read", list: "disks" },
  deleteDisk: { access: "delete" },
  attachDisk: { access: "configure" },
  detachDisk: { access: "configure" },
  registerKernel: { access: "admin" },
  deleteKernel: { access: "admin" },
  rollout: { access: "admin" },
  listChannels: { access: "read" },
  addChannel: { access: "configure" },
  removeChannel: { access: "configure" },
  listNetworks: { access: "read", list: "networks" },
  createNetwork: { access: "network" },
  deleteNetwork: { access: "network" },
  listForwards: { access: "read" },
  createForward: { access: "network" },
  deleteForward: { access: "network" },
  attachNic: { access: "network" },
  detachNic: { access: "network" },
  shutdownGuests: { access: "admin" },
  listSnapshots: { access: "read" },
  createSnapshot: { access: "snapshot" },
  restoreSnapshot: { access: "snapshot" },
  deleteSnapshot: { access: "snapshot" },
  cloneInstance: { access: "create" },
  mergeDisk: { access: "admin" },
  listTenants: { access: "admin" },
  createTenant: { access: "admin" },
  getTenant: { access: "read" },
  patchTenant: { access: "admin" },
  deleteTenant: { access: "admin" },
  listTokens: { access: "admin" },
  createToken: { access: "admin" },
  revokeToken: { access: "admin" },
  listAudit: { access: "admin" },
  whoami: { access: "any" },
  host: { access: "admin" },
  listHosts: { access: "admin" },
  drainHost: { access: "admin" },
  migrateInstance: { access: "admin" },
};

/** A WebSocket endpoint: a GET upgraded to 101, or refused with an error body like any route. */
export interface WebSocketDef {
  path: string;
  summary: string;
  params?: z.ZodType;
  query?: z.ZodType;
  access: Access;
  /** what travels on it, for the docs */
  messages: string;
  /** a JSON text frame's schema, when frames are JSON */
  message?: z.ZodType;
  errors: readonly ErrorStatus[];
}

/** WebSocket endpoints (paths relative to /v1). */
export const websockets = {
  console: {
    path: "/instances/:name/console",
    summary: "Bidirectional console bytes (binary frames); the scrollback is replayed first. Query: scrollback=0 to skip it; channel=ssl0 (or con1…) for an extra console or serial line.",
    params: InstanceNameParams,
    query: ConsoleQuery,
    access: "console",
    messages: "binary frames both ways: what the guest writes to the console, and bytes typed into it",
    errors: [400, 401, 403, 404, 429, 500],
  },
  events: {
    path: "/events",
    summary:
      "Every event as one JSON text frame (see Event). Query: since=SEQ replays the kept events after SEQ first (410 events_expired when they are no longer kept); type=a,b receives only those types.",
    query: EventsQuery,
    access: "read",
    messages: "server to client only: one JSON text frame per event (Event), in seq order",
    message: Event,
    errors: [400, 401, 403, 404, 410, 429, 500],
  },
} as const satisfies Record<string, WebSocketDef>;
