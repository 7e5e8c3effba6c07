import { z } from "zod";

/** Major protocol version: the `/v1` path prefix. Bumped only for breaking changes. */
export const PROTOCOL_VERSION = 1;
export const API_PREFIX = `/v${PROTOCOL_VERSION}`;

/** Append-only: a capability name, once served, is never removed or renamed within v1. */
export const CAPABILITIES = [
  "instances",
  "instance-lifecycle",
  "console-websocket",
  "events-websocket",
  "operations",
  "images",
  "kernels",
  "live-memory",
  "live-disks",
  "console-channels",
  "mconsole-passthrough",
  "guest-facts",
  "kernel-upgrade",
  "images-import",
  "snapshots",
  "clones",
  "networks",
  "host-networks",
  "user-networks",
  "tenants",
  "audit",
  "openapi",
  "metrics",
  "usage",
  "events-replay",
  "console-log",
  "net-limits",
  "dashboard",
  "whoami",
  "host-overview",
  "websocket-protocol-auth",
  "network-forwards",
  "routed-networks",
  "bridged-networks",
  "network-dns",
  "network-ipv6",
  "fleet",
] as const;

export const VersionView = z.object({
  protocolVersion: z.number().int(),
  daemonVersion: z.string(),
  capabilities: z.array(z.string()),
});
export type VersionView = z.infer<typeof VersionView>;

export const HealthView = z.object({
  status: z.literal("ok"),
  uptime: z.number(),
  instances: z.object({ total: z.number().int(), running: z.number().int() }),
});
export type HealthView = z.infer<typeof HealthView>;
