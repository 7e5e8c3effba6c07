import { z } from "zod";
import { InstanceState } from "./instances.js";
import { OperationView } from "./operations.js";

export const InstanceStateEvent = z.object({
  type: z.literal("instance.state"),
  instance: z.string(),
  from: InstanceState,
  to: InstanceState,
  reason: z.string(),
  timestamp: z.string(),
});
export const InstanceReadyEvent = z.object({
  type: z.literal("instance.ready"),
  instance: z.string(),
  bootMs: z.number().describe("milliseconds from process start to the readiness signal"),
  timestamp: z.string(),
});
export const InstanceCreatedEvent = z.object({
  type: z.literal("instance.created"),
  instance: z.string(),
  timestamp: z.string(),
});
export const InstanceDeletedEvent = z.object({
  type: z.literal("instance.deleted"),
  instance: z.string(),
  timestamp: z.string(),
});
export const OperationEvent = z.object({
  type: z.literal("operation"),
  operation: OperationView,
  timestamp: z.string(),
});

export const Event = z.discriminatedUnion("type", [
  InstanceStateEvent,
  InstanceReadyEvent,
  InstanceCreatedEvent,
  InstanceDeletedEvent,
  OperationEvent,
]);
export type Event = z.infer<typeof Event>;
export type EventType = Event["type"];
