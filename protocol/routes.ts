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
import { ImageView, KernelView } from "./images.js";

/**
 * Every HTTP endpoint, once, as data: the daemon registers routes from this
 * table and the CLI client is typed from it. Paths are relative to /v1.
 */
export interface RouteDef {
  method: "GET" | "POST" | "PUT" | "DELETE";
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
  listKernels: { method: "GET", path: "/kernels", summary: "Registered kernels", response: z.object({ kernels: z.array(KernelView) }), status: 200 },
} as const satisfies Record<string, RouteDef>;

export type Routes = typeof routes;
export type RouteName = keyof Routes;

/** WebSocket endpoints (paths relative to /v1). */
export const websockets = {
  console: {
    path: "/instances/:name/console",
    summary: "Bidirectional console bytes (binary frames); the scrollback is replayed first. Query: scrollback=0 to skip it.",
  },
  events: { path: "/events", summary: "Every event as one JSON text frame (see Event)" },
} as const;
