import type { Logger } from "pino";
import type { Dispatcher } from "../core/commands/dispatch.js";
import type { EventBus } from "../core/events/bus.js";
import type { EventJournal } from "../core/events/journal.js";
import type { Instances } from "../core/instances/instances.js";
import type { Operations } from "../core/operations/operations.js";
import type { Catalog } from "../core/storage/catalog.js";
import type { ImageOperations } from "../core/storage/image-operations.js";
import type { Tenants } from "../core/tenants/tenants.js";
import type { DaemonMetrics } from "./http/metrics.js";
import type { FleetMember } from "../core/fleet/fleet.js";

/** What the HTTP and WebSocket front ends may use: core's API, nothing of UML. */
export interface Services {
  instances: Instances;
  operations: Operations;
  catalog: Catalog;
  images: ImageOperations;
  bus: EventBus;
  /** what the bus published, for replays (GET /v1/events?since=SEQ) */
  journal: EventJournal;
  log: Logger;
  daemonVersion: string;
  adminToken: string;
  tenants: Tenants;
  /** every write goes through it */
  dispatcher: Dispatcher;
  /** GET /metrics and the API's request durations */
  metrics: DaemonMetrics;
  /** this host in its fleet (--cluster-etcd); null: a host of its own */
  fleet: FleetMember | null;
}
