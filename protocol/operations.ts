import { z } from "zod";
import { InstanceView } from "./instances.js";

export const OperationStatus = z.enum(["running", "succeeded", "failed"]);
export const OperationView = z.object({
  id: z.string(),
  kind: z.string().describe("e.g. instance.start"),
  target: z.string().describe("the instance name"),
  status: OperationStatus,
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }).nullable(),
  result: z.unknown().nullable().describe("what a finished operation produced, e.g. a rollout's outcome"),
  progress: z
    .object({ done: z.number(), total: z.number().nullable(), unit: z.enum(["bytes", "steps"]), step: z.string().nullable() })
    .nullable()
    .describe("how far a running operation got (bytes copied, steps done)"),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
});
export type OperationView = z.infer<typeof OperationView>;

export const ActionResult = z.object({ operation: OperationView, instance: InstanceView });
export type ActionResult = z.infer<typeof ActionResult>;

export const OperationIdParams = z.object({ id: z.string().regex(/^op-[a-f0-9]{16}$/, "an operation id, op-<16 hex>") }).strict();
