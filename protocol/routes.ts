import { z } from "zod";
import { HealthView, VersionView } from "./version.js";
import {
  CreateInstanceRequest,
  DeleteInstanceQuery,
  InstanceList,
  InstanceNameParams,
  InstanceView,
  StateActionRequest,
} from "./instances.js";
import { ActionResult, OperationView } from "./operations.js";
import { BuildImageRequest, ImageNameParams, ImageView, ImportImageRequest, KernelView, VerifyResult } from "./images.js";
import { MemoryChangeResult, MemoryView, PatchInstanceRequest } from "./instances.js";
import { AttachDiskRequest, AttachmentView, DataDiskView, DiskNameParams, DiskSlotParams } from "./disks.js";
import { KernelNameParams, RegisterKernelRequest, RolloutRequest, RolloutResult } from "./kernels.js";
import { AttachNicRequest, CreateNetworkRequest, NetworkNameParams, NetworkView, NicSlotParams, NicView } from "./networks.js";
import { CloneRequest, CreateSnapshotRequest, MergeRequest, SnapshotParams, SnapshotView } from "./snapshots.js";
import { AddChannelRequest, ChannelParams, ChannelView, GuestFacts, MconsoleRequest, MconsoleResponse } from "./guest.js";
import {
  AuditEntry, AuditQuery, CreatedToken, CreateTenantRequest, CreateTokenRequest, PatchTenantRequest, TenantParams, TenantView, TokenParams, TokenView,
  type Access,
} from "./tenants.js";

/**
 * Every HTTP endpoint, once, as data: the daemon registers routes from this
 * table and the CLI client is typed from it. Paths are relative to /v1.
 */
export interface RouteDef {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  summary: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  response: z.ZodType;
  status: number;
}

const OperationIdParams = z.object({ id: z.string().regex(/^op-[a-f0-9]{16}$/) }).strict();

export const routes = {
  health: { method: "GET", path: "/health", summary: "Daemon liveness and instance counts", response: HealthView, status: 200 },
  version: { method: "GET", path: "/version", summary: "Protocol version and capability names", response: VersionView, status: 200 },
  listInstances: { method: "GET", path: "/instances", summary: "All instances", response: InstanceList, status: 200 },
  createInstance: {
    method: "POST", path: "/instances", summary: "Create a stopped instance with its own COW disk over an image",
    body: CreateInstanceRequest, response: InstanceView, status: 201,
  },
  getInstance: { method: "GET", path: "/instances/:name", summary: "One instance", params: InstanceNameParams, response: InstanceView, status: 200 },
  deleteInstance: {
    method: "DELETE", path: "/instances/:name", summary: "Delete a stopped instance and its COW (force=true halts it first)",
    params: InstanceNameParams, query: DeleteInstanceQuery, response: z.object({ deleted: z.string() }), status: 200,
  },
  changeState: {
    method: "PUT", path: "/instances/:name/state", summary: "Run a lifecycle action; waits for it unless wait=false (202)",
    params: InstanceNameParams, body: StateActionRequest, response: ActionResult, status: 200,
  },
  getOperation: { method: "GET", path: "/operations/:id", summary: "One operation", params: OperationIdParams, response: OperationView, status: 200 },
  listImages: { method: "GET", path: "/images", summary: "Registered images", response: z.object({ images: z.array(ImageView) }), status: 200 },
  importImage: {
    method: "POST", path: "/images", summary: "Import an image from a raw ext* file, a directory or a tar archive (an operation with progress)",
    body: ImportImageRequest, response: z.object({ operation: OperationView, image: ImageView.nullable() }), status: 201,
  },
  buildImage: {
    method: "POST", path: "/images/build", summary: "Build a built-in image (busybox, or Debian with debootstrap) as an operation with progress",
    body: BuildImageRequest, response: z.object({ operation: OperationView, image: ImageView.nullable() }), status: 201,
  },
  verifyImage: {
    method: "POST", path: "/images/:name/verify", summary: "Recompute the image's sha256 and check every COW layered on it",
    params: ImageNameParams, response: VerifyResult, status: 200,
  },
  deleteImage: { method: "DELETE", path: "/images/:name", summary: "Delete an image nothing is layered on (a tenant: one of its own)", params: ImageNameParams, response: z.object({ deleted: z.string() }), status: 200 },
  listKernels: { method: "GET", path: "/kernels", summary: "Registered kernels", response: z.object({ kernels: z.array(KernelView) }), status: 200 },
  patchInstance: {
    method: "PATCH", path: "/instances/:name", summary: "Live memory target (plug/unplug), boot size, staged kernel",
    params: InstanceNameParams, body: PatchInstanceRequest,
    response: z.object({ instance: InstanceView, memory: MemoryChangeResult.nullable() }), status: 200,
  },
  getMemory: { method: "GET", path: "/instances/:name/memory", summary: "Memory target, guest view and host use, measured now", params: InstanceNameParams, response: MemoryView, status: 200 },
  mconsole: {
    method: "POST", path: "/instances/:name/mconsole", summary: "An mconsole command answered by the guest kernel (admin passthrough)",
    params: InstanceNameParams, body: MconsoleRequest, response: MconsoleResponse, status: 200,
  },
  guestFacts: { method: "GET", path: "/instances/:name/guest", summary: "Uptime, load and memory from the guest's /proc, no agent", params: InstanceNameParams, response: GuestFacts, status: 200 },
  listDisks: { method: "GET", path: "/disks", summary: "Data disks and where they are attached", response: z.object({ disks: z.array(DataDiskView) }), status: 200 },
  deleteDisk: { method: "DELETE", path: "/disks/:name", summary: "Delete a data disk no instance has attached, and its file", params: DiskNameParams, response: z.object({ deleted: z.string() }), status: 200 },
  attachDisk: {
    method: "POST", path: "/instances/:name/disks", summary: "Attach a data disk (existing, new sparse, or new COW over an image) as the next free ubdX, live if running",
    params: InstanceNameParams, body: AttachDiskRequest, response: AttachmentView, status: 201,
  },
  detachDisk: {
    method: "DELETE", path: "/instances/:name/disks/:slot", summary: "Detach a data disk (refused while the guest has it open); the disk itself is kept",
    params: DiskSlotParams, response: z.object({ detached: z.string(), disk: z.string() }), status: 200,
  },
  registerKernel: {
    method: "POST", path: "/kernels", summary: "Copy a UML kernel binary into the store and register it",
    body: RegisterKernelRequest, response: KernelView, status: 201,
  },
  deleteKernel: { method: "DELETE", path: "/kernels/:name", summary: "Delete a kernel no instance uses", params: KernelNameParams, response: z.object({ deleted: z.string() }), status: 200 },
  rollout: {
    method: "POST", path: "/kernels/:name/rollout", summary: "Upgrade the selected instances to this kernel in batches; stops at the first failed batch",
    params: KernelNameParams, body: RolloutRequest, response: z.object({ operation: OperationView, result: RolloutResult.nullable() }), status: 200,
  },
  listChannels: { method: "GET", path: "/instances/:name/consoles", summary: "Extra consoles and serial lines", params: InstanceNameParams, response: z.object({ channels: z.array(ChannelView) }), status: 200 },
  addChannel: {
    method: "POST", path: "/instances/:name/consoles", summary: "Add a console (con1..15) or serial line (ssl0..63), live if running",
    params: InstanceNameParams, body: AddChannelRequest, response: ChannelView, status: 201,
  },
  removeChannel: {
    method: "DELETE", path: "/instances/:name/consoles/:channel", summary: "Remove a console or serial line (refused while the guest has it open)",
    params: ChannelParams, response: z.object({ removed: z.string() }), status: 200,
  },
  listNetworks: { method: "GET", path: "/networks", summary: "Networks and the NICs on them", response: z.object({ networks: z.array(NetworkView) }), status: 200 },
  createNetwork: { method: "POST", path: "/networks", summary: "Create a network (a host network's bridge and table at once; a switch starts with its first NIC)", body: CreateNetworkRequest, response: NetworkView, status: 201 },
  deleteNetwork: { method: "DELETE", path: "/networks/:name", summary: "Delete a network no NIC is on (its switch, bridge and table removed)", params: NetworkNameParams, response: z.object({ deleted: z.string() }), status: 200 },
  attachNic: {
    method: "POST", path: "/instances/:name/nics", summary: "Add a NIC on a network (live if running); MAC and address allocated",
    params: InstanceNameParams, body: AttachNicRequest, response: NicView.extend({ live: z.boolean() }), status: 201,
  },
  detachNic: {
    method: "DELETE", path: "/instances/:name/nics/:slot", summary: "Remove a NIC (live: refused while the guest has it up)",
    params: NicSlotParams, response: z.object({ detached: z.string() }), status: 200,
  },
  shutdownGuests: {
    method: "POST", path: "/host/shutdown-guests", summary: "Host shutdown: shut every guest down gracefully, halting those still up after deadlineS",
    body: z.object({ deadlineS: z.number().positive().max(3600).default(60) }).strict(),
    response: z.object({ shutDown: z.array(z.string()), halted: z.array(z.string()) }), status: 200,
  },
  listSnapshots: { method: "GET", path: "/instances/:name/snapshots", summary: "The instance's snapshots", params: InstanceNameParams, response: z.object({ snapshots: z.array(SnapshotView) }), status: 200 },
  createSnapshot: {
    method: "POST", path: "/instances/:name/snapshots", summary: "Snapshot the root disk into a sealed image (a running guest is synced and paused meanwhile)",
    params: InstanceNameParams, body: CreateSnapshotRequest, response: z.object({ operation: OperationView, result: SnapshotView.nullable() }), status: 201,
  },
  restoreSnapshot: {
    method: "POST", path: "/instances/:name/snapshots/:snapshot/restore", summary: "Put a stopped instance back on a snapshot (a fresh COW over it)",
    params: SnapshotParams, response: InstanceView, status: 200,
  },
  deleteSnapshot: { method: "DELETE", path: "/instances/:name/snapshots/:snapshot", summary: "Delete a snapshot nothing is layered on", params: SnapshotParams, response: z.object({ deleted: z.string() }), status: 200 },
  cloneInstance: {
    method: "POST", path: "/instances/:name/clone", summary: "A new instance from a snapshot (O(1)) or from a full copy of the current disk",
    params: InstanceNameParams, body: CloneRequest, response: z.object({ operation: OperationView, result: InstanceView.nullable() }), status: 201,
  },
  mergeDisk: {
    method: "POST", path: "/instances/:name/merge", summary: "Flatten the root disk into a new standalone image, then (switch) move the instance onto it",
    params: InstanceNameParams, body: MergeRequest, response: z.object({ operation: OperationView, result: z.object({ image: z.string(), switched: z.boolean() }).nullable() }), status: 201,
  },
  listTenants: { method: "GET", path: "/tenants", summary: "Tenants with their quotas and usage (admin)", response: z.object({ tenants: z.array(TenantView) }), status: 200 },
  createTenant: { method: "POST", path: "/tenants", summary: "Create a tenant (admin)", body: CreateTenantRequest, response: TenantView, status: 201 },
  getTenant: { method: "GET", path: "/tenants/:tenant", summary: "One tenant (admin; a tenant token: its own)", params: TenantParams, response: TenantView, status: 200 },
  patchTenant: { method: "PATCH", path: "/tenants/:tenant", summary: "Change a tenant's quotas (admin)", params: TenantParams, body: PatchTenantRequest, response: TenantView, status: 200 },
  deleteTenant: { method: "DELETE", path: "/tenants/:tenant", summary: "Delete a tenant that owns nothing; its tokens stop working (admin)", params: TenantParams, response: z.object({ deleted: z.string() }), status: 200 },
  listTokens: { method: "GET", path: "/tenants/:tenant/tokens", summary: "A tenant's tokens, never their secrets (admin)", params: TenantParams, response: z.object({ tokens: z.array(TokenView) }), status: 200 },
  createToken: { method: "POST", path: "/tenants/:tenant/tokens", summary: "Create a token for a tenant; the secret is in this answer only (admin)", params: TenantParams, body: CreateTokenRequest, response: CreatedToken, status: 201 },
  revokeToken: { method: "DELETE", path: "/tenants/:tenant/tokens/:token", summary: "Revoke a token at once (admin)", params: TokenParams, response: TokenView, status: 200 },
  listAudit: { method: "GET", path: "/audit", summary: "The audit log, newest first: every mutating call and console attach (admin)", query: AuditQuery, response: z.object({ entries: z.array(AuditEntry) }), status: 200 },
} as const satisfies Record<string, RouteDef>;

export type Routes = typeof routes;
export type RouteName = keyof Routes;

/**
 * Who may call each route, and which of its names are a tenant's own: for a
 * tenant (or an admin acting for one) `params`/`body` fields listed in
 * `owned` are the tenant's names, and `list` names the array a list answer
 * is filtered on. Everything else about tenants follows from this table.
 */
export interface RouteScope {
  access: Access;
  owned?: { params?: string[]; body?: string[] };
  list?: string;
}

const own = { params: ["name"] };
export const routeScopes: Record<RouteName, RouteScope> = {
  health: { access: "any" },
  version: { access: "any" },
  listInstances: { access: "read", list: "instances" },
  createInstance: { access: "create", owned: { body: ["name"] } },
  getInstance: { access: "read", owned: own },
  deleteInstance: { access: "delete", owned: own },
  changeState: { access: "power", owned: own },
  getOperation: { access: "read" },
  listImages: { access: "read", list: "images" },
  importImage: { access: "admin" },
  buildImage: { access: "admin" },
  verifyImage: { access: "admin" },
  deleteImage: { access: "delete" },
  listKernels: { access: "read" },
  patchInstance: { access: "configure", owned: own },
  getMemory: { access: "read", owned: own },
  mconsole: { access: "admin", owned: own },
  guestFacts: { access: "read", owned: own },
  listDisks: { access: "read", list: "disks" },
  deleteDisk: { access: "delete", owned: own },
  attachDisk: { access: "configure", owned: { params: ["name"], body: ["disk"] } },
  detachDisk: { access: "configure", owned: own },
  registerKernel: { access: "admin" },
  deleteKernel: { access: "admin" },
  rollout: { access: "admin" },
  listChannels: { access: "read", owned: own },
  addChannel: { access: "configure", owned: own },
  removeChannel: { access: "configure", owned: own },
  listNetworks: { access: "read", list: "networks" },
  createNetwork: { access: "network", owned: { body: ["name"] } },
  deleteNetwork: { access: "network", owned: own },
  attachNic: { access: "network", owned: { params: ["name"], body: ["network"] } },
  detachNic: { access: "network", owned: own },
  shutdownGuests: { access: "admin" },
  listSnapshots: { access: "read", owned: own },
  createSnapshot: { access: "snapshot", owned: own },
  restoreSnapshot: { access: "snapshot", owned: own },
  deleteSnapshot: { access: "snapshot", owned: own },
  cloneInstance: { access: "create", owned: { params: ["name"], body: ["name"] } },
  mergeDisk: { access: "admin", owned: own },
  listTenants: { access: "admin" },
  createTenant: { access: "admin" },
  getTenant: { access: "read" },
  patchTenant: { access: "admin" },
  deleteTenant: { access: "admin" },
  listTokens: { access: "admin" },
  createToken: { access: "admin" },
  revokeToken: { access: "admin" },
  listAudit: { access: "admin" },
};

/** WebSocket endpoints (paths relative to /v1). */
export const websockets = {
  console: {
    path: "/instances/:name/console",
    summary: "Bidirectional console bytes (binary frames); the scrollback is replayed first. Query: scrollback=0 to skip it; channel=ssl0 (or con1…) for an extra console or serial line.",
  },
  events: { path: "/events", summary: "Every event as one JSON text frame (see Event)" },
} as const;
