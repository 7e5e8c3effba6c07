import { z } from "zod";
import { InstanceState } from "./instances.js";
import { OperationView } from "./operations.js";

/** Every event's place in the daemon's journal: increasing, never reused, across restarts too. */
const seq = z.number().int().min(1).describe("the event's sequence number: increasing across daemon restarts; reconnect with ?since=<the last one seen> to get what was missed");

export const InstanceStateEvent = z
  .object({
    seq,
    type: z.literal("instance.state"),
    instance: z.string(),
    from: InstanceState,
    to: InstanceState,
    reason: z.string(),
    timestamp: z.string(),
  })
  .describe("the instance changed state");
export const InstanceReadyEvent = z
  .object({
    seq,
    type: z.literal("instance.ready"),
    instance: z.string(),
    bootMs: z.number().describe("milliseconds from process start to the readiness signal"),
    timestamp: z.string(),
  })
  .describe("the guest signalled readiness");
export const InstanceCreatedEvent = z
  .object({
    seq,
    type: z.literal("instance.created"),
    instance: z.string(),
    timestamp: z.string(),
  })
  .describe("an instance was created");
export const InstanceDeletedEvent = z
  .object({
    seq,
    type: z.literal("instance.deleted"),
    instance: z.string(),
    timestamp: z.string(),
  })
  .describe("an instance was deleted");
export const InstanceMemoryEvent = z
  .object({
    seq,
    type: z.literal("instance.memory"),
    instance: z.string(),
    requestedMiB: z.number().int(),
    memoryMiB: z.number().int(),
    maxMemoryMiB: z.number().int(),
    unpluggedMiB: z.number().int(),
    limitedBy: z.string().nullable(),
    /** who moved it: a request (PATCH, a boot re-applying the target) or the reclaimer (memoryReclaim auto) */
    by: z.enum(["request", "reclaim"]).optional(),
    timestamp: z.string(),
  })
  .describe("a live memory change: requested, reached (memoryMiB), boot size, unplugged, and what limited it");
export const InstanceDiskEvent = z
  .object({
    seq,
    type: z.literal("instance.disk"),
    instance: z.string(),
    change: z.enum(["attached", "detached"]),
    slot: z.string(),
    disk: z.string(),
    readOnly: z.boolean(),
    live: z.boolean(),
    timestamp: z.string(),
  })
  .describe("a data disk was attached or detached (live: in the running guest)");
export const InstanceUpgradeEvent = z
  .object({
    seq,
    type: z.literal("instance.upgrade"),
    instance: z.string(),
    from: z.string(),
    to: z.string(),
    status: z.enum(["staged", "succeeded", "rolled-back"]),
    reason: z.string().nullable(),
    timestamp: z.string(),
  })
  .describe("a kernel upgrade was staged, succeeded or was rolled back");
export const InstanceHangEvent = z
  .object({
    seq,
    type: z.literal("instance.hang"),
    instance: z.string(),
    evidence: z.object({
      sinceS: z.number().describe("seconds without progress"),
      probe: z.string().describe("what showed it: the guest's uptime did not advance, or mconsole did not answer"),
      source: z.enum(["probe", "watchdog"]),
    }),
    action: z.enum(["reported", "reset"]),
    timestamp: z.string(),
  })
  .describe("the guest kernel made no progress: reported, or also reset");
export const InstanceRestartEvent = z
  .object({
    seq,
    type: z.literal("instance.restart"),
    instance: z.string(),
    attempt: z.number().int(),
    delayS: z.number(),
    reason: z.string(),
    timestamp: z.string(),
  })
  .describe("umld restarts the instance by its restart policy");
export const InstanceFlaggedEvent = z
  .object({
    seq,
    type: z.literal("instance.flagged"),
    instance: z.string(),
    flag: z.string(),
    timestamp: z.string(),
  })
  .describe("umld stopped acting on the instance by itself (e.g. a crash loop)");
export const OperationEvent = z
  .object({
    seq,
    type: z.literal("operation"),
    operation: OperationView,
    timestamp: z.string(),
  })
  .describe("an operation started or ended (with its result when it produced one)");

export const Event = z.discriminatedUnion("type", [
  InstanceStateEvent,
  InstanceReadyEvent,
  InstanceCreatedEvent,
  InstanceDeletedEvent,
  InstanceMemoryEvent,
  InstanceDiskEvent,
  InstanceUpgradeEvent,
  InstanceHangEvent,
  InstanceRestartEvent,
  InstanceFlaggedEvent,
  OperationEvent,
]);
export type Event = z.infer<typeof Event>;
export type EventType = Event["type"];
export const EVENT_TYPES = Event.options.map((o) => o.shape.type.value) as EventType[];

type WithoutSeq<T> = T extends unknown ? Omit<T, "seq"> : never;
/** An event as core publishes it: the bus gives it its seq. */
export type EventDraft = WithoutSeq<Event>;

/** Query of the events WebSocket: replay from a seq, and which types. */
export const EventsQuery = z
  .object({
    since: z.coerce.number().int().min(0).optional().describe("replay every kept event after this seq first (0: all kept), then go on live; too old: 410 events_expired"),
    type: z
      .string()
      .max(1000)
      .transform((s) =>
        s
          .split(",")
          .map((t) => t.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.enum(EVENT_TYPES as [EventType, ...EventType[]])).min(1))
      .optional()
      .describe("comma-separated event types to receive (default: all), e.g. instance.state,operation"),
  })
  .strict();
export type EventsQuery = z.output<typeof EventsQuery>;
