import { z } from "zod";
import { Name } from "./names.js";

/**
 * What a tenant token may do. Routes name the permission they need
 * (protocol/contract.ts routeScopes); `reboot` alone allows the state actions reboot and
 * start (an admin's "reboot a crashed guest without a shell"); `metrics` is
 * GET /metrics with the tenant's own series only.
 */
export const PERMISSIONS = ["read", "create", "delete", "power", "reboot", "console", "configure", "snapshot", "network", "metrics"] as const;
export const Permission = z.enum(PERMISSIONS);
export type Permission = z.infer<typeof Permission>;

/** Who may use a route: anyone authenticated, admins only, or tenants holding a permission (admins always). */
export type Access = "any" | "admin" | Permission;

export const PortRange = z.object({ first: z.number().int().min(1).max(65535), last: z.number().int().min(1).max(65535) }).strict();

export const Quotas = z
  .object({
    maxInstances: z.number().int().min(0).max(100_000).nullable().optional(),
    maxMemoryMiB: z
      .number()
      .int()
      .min(0)
      .max(16 * 1024 * 1024)
      .nullable()
      .optional()
      .describe("sum of the instances' maxMemoryMiB"),
    maxDiskMiB: z
      .number()
      .int()
      .min(0)
      .max(1024 * 1024 * 1024)
      .nullable()
      .optional()
      .describe("sum of the instances' disk quotas (an instance without one counts its root image's size) and the tenant's data disks"),
    maxSnapshots: z.number().int().min(0).max(1_000_000).nullable().optional(),
    maxCpus: z
      .number()
      .min(0.01)
      .max(1024)
      .nullable()
      .optional()
      .describe("CPU time all the tenant's guests together may use, in cores (their common cgroup's cap); an instance's limits.cpus stays within it"),
    forwardPorts: PortRange.nullable().optional().describe("the host ports the tenant's own port forwards may listen on (first <= last); null: none (the default)"),
  })
  .strict();
export type Quotas = z.infer<typeof Quotas>;

export const CreateTenantRequest = z.object({ name: Name, quotas: Quotas.default({}) }).strict();
export const PatchTenantRequest = z.object({ quotas: Quotas.optional() }).strict();

export const TenantView = z.object({
  name: z.string(),
  quotas: z.object({
    maxInstances: z.number().nullable(),
    maxMemoryMiB: z.number().nullable(),
    maxDiskMiB: z.number().nullable(),
    maxSnapshots: z.number().nullable(),
    maxCpus: z.number().nullable(),
    forwardPorts: PortRange.nullable(),
  }),
  usage: z.object({ instances: z.number(), memoryMiB: z.number(), diskMiB: z.number(), snapshots: z.number() }),
  createdAt: z.string(),
});
export type TenantView = z.infer<typeof TenantView>;

export const CreateTokenRequest = z
  .object({
    name: Name,
    actions: z
      .array(Permission)
      .min(1)
      .max(PERMISSIONS.length)
      .default([...PERMISSIONS])
      .describe("what the token may do; default: everything a tenant may"),
    expiresInS: z
      .number()
      .int()
      .min(1)
      .max(10 * 365 * 86400)
      .optional()
      .describe("seconds until the token stops working; default: never"),
  })
  .strict();

export const TokenView = z.object({
  id: z.string(),
  name: z.string(),
  tenant: z.string().nullable().describe("null: an admin token"),
  actions: z.array(Permission),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable().describe("to the minute"),
});
export type TokenView = z.infer<typeof TokenView>;
export const CreatedToken = TokenView.extend({ token: z.string().describe("the bearer token; shown once, umld keeps only its hash") });

export const TenantParams = z.object({ tenant: Name }).strict();
export const TokenParams = z.object({ tenant: Name, token: z.string().regex(/^[a-f0-9]{16}$/, "a token id") }).strict();

export const AuditQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    tenant: Name.optional(),
    before: z.coerce.number().int().min(1).optional().describe("entries older than this seq (paging backwards)"),
  })
  .strict();

export const AuditEntry = z.object({
  seq: z.number().int(),
  at: z.string(),
  principal: z.string(),
  tenant: z.string().nullable(),
  action: z.string(),
  object: z.string().nullable(),
  status: z.number().int(),
  outcome: z.string(),
  remote: z.string().nullable(),
  count: z.number().int().describe("refusals this entry stands for: a flood of bad tokens or rate-limited calls is one entry per address (or token) a minute"),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export const TenantList = z.object({ tenants: z.array(TenantView) });
export const TokenList = z.object({ tokens: z.array(TokenView) });
export const AuditList = z.object({ entries: z.array(AuditEntry) });

/** Who a token is: what the dashboard shows and which controls it offers (the daemon still checks every call). */
export const WhoAmI = z.object({
  kind: z.enum(["admin", "tenant", "metrics"]).describe("metrics: the token in STATE/metrics.token, for scraping /metrics only"),
  tenant: z.string().nullable().describe("the tenant whose names apply: a tenant token's, or the one an admin acts for (Umld-Tenant); null: an admin"),
  principal: z.string().describe("as the audit log names it: local, admin, or <tenant>:<token id>"),
  actions: z.array(Permission).nullable().describe("a tenant token's permissions; null: an admin's, everything"),
  expiresAt: z.string().nullable().describe("when the token stops working (ISO 8601); null: never"),
});
export type WhoAmI = z.infer<typeof WhoAmI>;
