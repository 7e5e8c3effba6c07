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
