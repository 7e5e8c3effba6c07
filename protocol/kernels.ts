import { z } from "zod";
import { Name } from "./names.js";
import { OperationView } from "./operations.js";

export const RegisterKernelRequest = z
  .object({
    name: Name.optional().describe("default: k-<version>-<first 8 hex of sha256>, e.g. k-6-1-176-3090c161"),
    path: z
      .string()
      .min(1)
      .max(4095)
      .regex(/^\/[^\0]*$/, "an absolute host path")
      .describe("the binary to copy into umld's kernel store"),
    makeDefault: z.boolean().default(false),
  })
  .strict();
export type RegisterKernelRequest = z.input<typeof RegisterKernelRequest>;

export const KernelNameParams = z.object({ name: Name }).strict();

export const RolloutRequest = z
  .object({
    selector: z
      .object({
        instances: z.array(Name).max(1000).optional().describe("these instances"),
        kernel: Name.optional().describe("instances whose configured kernel is this one"),
        image: Name.optional().describe("instances made from this image"),
      })
      .strict()
      .refine((s) => Object.keys(s).length > 0, { message: "an empty selector would select everything; name what to upgrade" }),
    batchSize: z.number().int().min(1).max(100).default(1),
    deadlineS: z.number().positive().max(600).optional(),
    wait: z.boolean().default(true),
  })
  .strict();
export type RolloutRequest = z.input<typeof RolloutRequest>;

export const RolloutResult = z.object({
  kernel: z.string(),
  upgraded: z.array(z.string()),
  failed: z.array(z.object({ instance: z.string(), reason: z.string() })),
  skipped: z.array(z.string()).describe("selected but not attempted because an earlier batch failed"),
});
export type RolloutResult = z.infer<typeof RolloutResult>;

export const RolloutOperation = z.object({ operation: OperationView, result: RolloutResult.nullable().describe("null while the rollout runs (wait=false)") });
