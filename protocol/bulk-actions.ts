import { z } from "zod";
import { InstanceState } from "./instances.js";
import { Name, OwnedName } from "./names.js";
import { OperationView } from "./operations.js";

/** The most instances one bulk action names or selects. */
export const BULK_MAX = 1000;

/** Lifecycle actions a bulk action may run (an upgrade names a kernel: POST /v1/kernels/:name/rollout). */
export const BULK_ACTIONS = ["start", "shutdown", "halt", "reboot", "pause", "resume"] as const;
export const BulkAction = z.enum(BULK_ACTIONS);
export type BulkAction = z.infer<typeof BulkAction>;

export const BulkSelector = z
  .object({
    state: InstanceState.optional().describe("only instances in this state"),
    tenant: Name.optional().describe("admins only: only this tenant's instances"),
    namePrefix: z
      .string()
      .min(1)
      .max(63)
      .regex(/^[a-z0-9][a-z0-9-]*$/, "the start of a name: lowercase letters, digits and hyphens")
      .optional()
      .describe("only instances whose name (as the caller sees it) starts with this"),
  })
  .strict()
  .describe("every instance the caller sees that matches all the fields given ({}: all) and whose state allows the action");

export const BulkActionRequest = z
  .object({
    action: BulkAction,
    names: z.array(OwnedName).min(1).max(BULK_MAX).optional().describe(`the instances, by name (at most ${BULK_MAX}, no repeats); each is answered, also a missing one`),
    selector: BulkSelector.optional(),
    wait: z.boolean().default(false).describe("true: answer when every action has finished, each with its outcome; false: when each was accepted (its operation running)"),
    timeoutS: z.number().positive().max(3600).optional().describe("seconds each action may take (default per action)"),
  })
  .strict()
  .refine((r) => (r.names === undefined) !== (r.selector === undefined), { message: "give exactly one of names and selector", path: ["names"] })
  .refine((r) => r.names === undefined || new Set(r.names).size === r.names.length, { message: "a name appears twice", path: ["names"] });
export type BulkActionRequest = z.input<typeof BulkActionRequest>;

export const BulkItem = z.object({
  name: OwnedName,
  ok: z.boolean().describe("the action was accepted (wait: false) or succeeded (wait: true)"),
  operation: OperationView.nullable().describe("the action's operation; null when it was refused before one began"),
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }).nullable().describe("why not, as the single-instance route would answer"),
});
export type BulkItem = z.infer<typeof BulkItem>;

export const BulkActionResult = z.object({
  action: BulkAction,
  results: z.array(BulkItem).describe("one per instance named or selected, in that order"),
  succeeded: z.number().int(),
  failed: z.number().int(),
});
export type BulkActionResult = z.infer<typeof BulkActionResult>;
