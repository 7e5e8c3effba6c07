import { z } from "zod";
import { InstanceState } from "./instances.js";

/** One reading of a guest's use of the host, taken by the daemon's sampler (never on request). */
export const UsageSample = z.object({
  at: z.string().describe("ISO 8601 time of the reading"),
  cpuSeconds: z.number().nullable().describe("CPU time of all the guest's host processes in this boot, from its cgroup; null: no cgroups here"),
  cpuPercent: z.number().nullable().describe("CPU use since the previous reading, in percent of one core (200: two cores busy)"),
  memoryTargetBytes: z.number().int().describe("the live memory target (memoryMiB)"),
  memoryHostBytes: z.number().int().nullable().describe("bytes of the guest's RAM file backed on the host"),
  memoryGuestAvailableBytes: z.number().int().nullable().describe("MemAvailable in the guest's /proc/meminfo, read every 30 s at most; null: not read yet"),
  rxBytes: z.number().nullable().describe("bytes the guest received on NICs with a host interface (TAP), counted on the host"),
  txBytes: z.number().nullable().describe("bytes the guest sent on those NICs"),
  rxPackets: z.number().nullable(),
  txPackets: z.number().nullable(),
  rxBytesPerS: z.number().nullable().describe("received bytes per second since the previous reading"),
  txBytesPerS: z.number().nullable().describe("sent bytes per second since the previous reading"),
});
export type UsageSample = z.infer<typeof UsageSample>;

export const InstanceUsage = z.object({
  name: z.string(),
  intervalS: z.number().describe("seconds between two kept readings"),
  samples: z.array(UsageSample).describe("the last hour, oldest first; empty for a guest that has not run in it"),
});
export type InstanceUsage = z.infer<typeof InstanceUsage>;

export const UsageEntry = z.object({
  name: z.string(),
  state: InstanceState,
  sample: UsageSample.nullable().describe("the latest reading; null: the guest has not run since the daemon started"),
});
export const UsageList = z.object({
  intervalS: z.number().describe("seconds between two readings"),
  instances: z.array(UsageEntry),
});
export type UsageList = z.infer<typeof UsageList>;

/** Query of GET /instances/:name/console/log. */
export const ConsoleLogQuery = z
  .object({
    tail: z.coerce.number().int().min(1).max(100_000).default(200).describe("lines from the end of the console log"),
  })
  .strict();

/** The Prometheus text exposition format (version 0.0.4). */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
export const MetricsText = z.string().describe("Prometheus text exposition format 0.0.4 (docs/operations.md lists the metrics)");
export const ConsoleLogText = z.string().describe("the last lines of the guest's console log (console.log), as the guest wrote them");
