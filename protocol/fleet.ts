import { z } from "zod";
import { Name } from "./names.js";
import { OperationView } from "./operations.js";

/** up: its lease in etcd is alive; lost: it joined once and its lease expired (crashed, cut off, or stopped). */
export const HostState = z.enum(["up", "lost"]);
export type HostState = z.infer<typeof HostState>;

export const HostView = z.object({
  name: Name.describe("the host's --host-name"),
  url: z.string().describe("where its API is (--advertise): hosts forward requests to each other there"),
  state: HostState.describe("up: its lease is alive; lost: it expired (its guests are never started elsewhere by umld: docs/fleet.md)"),
  self: z.boolean().describe("the host that answered this request"),
  version: z.string().nullable().describe("its umld version (null: lost)"),
  memory: z
    .object({
      totalMiB: z.number().int().describe("the host's MemTotal"),
      limitMiB: z.number().int().describe("guest memory it admits: MemTotal × --memory-overcommit"),
      committedMiB: z.number().int().describe("boot sizes of the guests it runs"),
      freeMiB: z.number().int().describe("limitMiB - committedMiB: what placement looks at"),
    })
    .nullable()
    .describe("null: lost"),
  guests: z.object({ total: z.number().int(), running: z.number().int() }).nullable().describe("null: lost"),
  lastSeen: z.string().nullable().describe("when it last renewed its record (ISO 8601); null: lost"),
  joinedAt: z.string().describe("when it first joined the fleet"),
});
export type HostView = z.infer<typeof HostView>;

export const HostList = z.object({
  fleet: z.boolean().describe("false: this umld is not in a fleet (and the list is empty)"),
  hosts: z.array(HostView),
});

export const HostNameParams = z.object({ name: Name }).strict();

export const MigrateRequest = z
  .object({
    host: Name.describe("the host to move the instance to"),
    wait: z.boolean().default(true).describe("false: answer 202 with the operation at once"),
    timeoutS: z.number().positive().max(3600).optional().describe("seconds the guest has to shut down gracefully (default 60); if it does not, the migration fails and the guest runs on"),
  })
  .strict();

export const MigrateOperation = z.object({
  operation: OperationView.describe("instance.migrate: progress in bytes copied; its result names from, to, whether the image was copied, the bytes sent and whether the guest was started there"),
});

export const DrainRequest = z.object({ wait: z.boolean().default(true).describe("false: answer 202 with the operation at once") }).strict();
export const DrainOperation = z.object({ operation: OperationView.describe("host.drain: progress in instances moved; its result lists where each went and what could not move") });
