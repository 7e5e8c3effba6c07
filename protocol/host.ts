import { z } from "zod";

/** The answer of a delete: the name of what is gone. */
export const Deleted = z.object({ deleted: z.string() });
export const DetachedResult = z.object({ detached: z.string().describe("the slot it was in") });

export const ShutdownGuestsRequest = z.object({ deadlineS: z.number().positive().max(3600).default(60).describe("seconds the guests have to power off before they are halted") }).strict();
export const ShutdownGuestsResult = z.object({
  shutDown: z.array(z.string()).describe("guests that powered off by themselves"),
  halted: z.array(z.string()).describe("guests still up at the deadline, halted"),
});

/** An OpenAPI 3.1 document (protocol/openapi.ts); only its envelope is described here. */
export const OpenApiDocument = z.looseObject({
  openapi: z.string().describe("3.1.0"),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.unknown()),
});

/** The host as an admin sees it: guests by state and the memory promised to them against what the host has. */
export const HostView = z.object({
  daemonVersion: z.string(),
  uptimeS: z.number().describe("seconds since umld started"),
  cpus: z.number().int().describe("the host's CPUs"),
  loadAverage: z.tuple([z.number(), z.number(), z.number()]).describe("the host's 1, 5 and 15 minute load averages"),
  instances: z.object({
    total: z.number().int(),
    byState: z.record(z.string(), z.number().int()).describe("instances per state (stopped, starting, running, paused, stopping, crashed)"),
  }),
  memory: z.object({
    totalMiB: z.number().int().describe("the host's MemTotal"),
    availableMiB: z.number().int().describe("the host's MemAvailable: what new work can use without swapping"),
    committedMiB: z.number().int().describe("boot sizes (maxMemoryMiB) of every instance with a guest process: what the guests may grow to"),
    targetMiB: z.number().int().describe("live memory targets of those guests (boot size less what was unplugged)"),
  }),
});
export type HostView = z.infer<typeof HostView>;
