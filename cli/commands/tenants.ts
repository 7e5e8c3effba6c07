import type { BodyIn, QueryIn, ResponseOf } from "../../protocol/contract.js";
import { Permission, type Quotas } from "../../protocol/tenants.js";
import type { Values } from "../context.js";
import { col } from "../output.js";
import type { CommandSpec } from "./command.js";

type TenantRow = ResponseOf<"listTenants">["tenants"][number];
type TokenRow = ResponseOf<"listTokens">["tokens"][number];
type AuditRow = ResponseOf<"listAudit">["entries"][number];

const QUOTA_FLAGS = [
  ["max-instances", "maxInstances"],
  ["max-memory", "maxMemoryMiB"],
  ["max-disk", "maxDiskMiB"],
  ["max-snapshots", "maxSnapshots"],
  ["max-cpus", "maxCpus"],
] as const;

function quotas(v: Values): Quotas {
  const q: Quotas = {};
  for (const [flag, key] of QUOTA_FLAGS) if (v[flag] !== undefined) q[key] = Number(v[flag]);
  const ports = v["forward-ports"];
  if (typeof ports === "string") {
    // FIRST-LAST, or none; anything else goes to the daemon as NaN and is refused there as invalid_request
    const m = /^(\d+)-(\d+)$/.exec(ports);
    q.forwardPorts = ports === "none" ? null : { first: m ? Number(m[1]) : NaN, last: m ? Number(m[2]) : NaN };
  }
  return q;
}

const used = (u: number, max: number | null, unit = "") => `${u}/${max ?? "-"}${unit}`;
const TENANT_COLUMNS = [
  col<TenantRow>("name", (t) => t.name),
  col<TenantRow>(
    "instances",
    (t) => t.usage.instances,
    (t) => used(t.usage.instances, t.quotas.maxInstances),
  ),
  col<TenantRow>(
    "memoryMiB",
    (t) => t.usage.memoryMiB,
    (t) => used(t.usage.memoryMiB, t.quotas.maxMemoryMiB, " MiB"),
    "memory",
  ),
  col<TenantRow>(
    "diskMiB",
    (t) => t.usage.diskMiB,
    (t) => used(t.usage.diskMiB, t.quotas.maxDiskMiB, " MiB"),
    "disk",
  ),
  col<TenantRow>(
    "snapshots",
    (t) => t.usage.snapshots,
    (t) => used(t.usage.snapshots, t.quotas.maxSnapshots),
  ),
];
const line = (t: TenantRow) =>
  `${t.name}\tinstances ${used(t.usage.instances, t.quotas.maxInstances)}\tmemory ${used(t.usage.memoryMiB, t.quotas.maxMemoryMiB)} MiB\tdisk ${used(t.usage.diskMiB, t.quotas.maxDiskMiB)} MiB\tsnapshots ${used(t.usage.snapshots, t.quotas.maxSnapshots)}`;

export const tenantCommands: CommandSpec[] = [
  {
    name: "tenant",
    subs: ["ls", "show", "create", "set", "rm"],
    help: [
      "tenant ls | show T | rm T | create T [--max-instances N] [--max-memory MIB] [--max-disk MIB] [--max-snapshots N] [--max-cpus X]",
      "tenant set T [--max-… flags] [--forward-ports FIRST-LAST|none]   change a tenant's quotas and the host ports its forwards may use",
    ],
    flags: [...QUOTA_FLAGS.map(([f]) => f), "forward-ports"],
    completes: "tenant",
    lists: true,
    async run(x) {
      const [sub] = x.args;
      if (sub === "ls") {
        const r = await x.c.call("listTenants");
        return x.list(r, r.tenants, TENANT_COLUMNS, "no tenants");
      }
      const t = x.arg(1, `tenant ${sub ?? "ls | show | create | set | rm"} T`);
      if (sub === "create") return x.out(await x.c.call("createTenant", { body: { name: t, quotas: quotas(x.v) } }), `created tenant ${t}`);
      if (sub === "set") return x.out(await x.c.call("patchTenant", { params: { tenant: t }, body: { quotas: quotas(x.v) } }), `tenant ${t} changed`);
      if (sub === "show") {
        const r = await x.c.call("getTenant", { params: { tenant: t } });
        return x.out(r, line(r));
      }
      if (sub === "rm") return x.out(await x.c.call("deleteTenant", { params: { tenant: t } }), `deleted tenant ${t}`);
      x.fail("tenant ls | show | create | set | rm");
    },
  },
  {
    name: "token",
    subs: ["ls", "create", "revoke"],
    help: [
      "token ls T | revoke T ID | create T NAME [--actions read,console,reboot,metrics] [--expires S]",
      "                                     the token is printed once; give it to the tenant (umlctl --url … --token …)",
    ],
    flags: ["actions", "expires"],
    completes: "tenant",
    lists: true,
    async run(x) {
      const [sub] = x.args;
      const t = x.arg(1, `token ${sub ?? "ls | create | revoke"} T`);
      if (sub === "ls") {
        const r = await x.c.call("listTokens", { params: { tenant: t } });
        return x.list(
          r,
          r.tokens,
          [
            col<TokenRow>("id", (k) => k.id),
            col<TokenRow>("name", (k) => k.name),
            col<TokenRow>("actions", (k) => k.actions.join(",")),
            col<TokenRow>("status", (k) => (k.revokedAt ? "revoked" : k.expiresAt ? `expires ${k.expiresAt}` : "no expiry")),
            col<TokenRow>("lastUsedAt", (k) => k.lastUsedAt, undefined, "last used"),
          ],
          "no tokens",
        );
      }
      if (sub === "create") {
        const body: BodyIn<"createToken"> = { name: x.arg(2, "token create T NAME [--actions a,b] [--expires S]") };
        if (x.v.actions) body.actions = x.v.actions.split(",").map((a, i) => x.field(Permission, a, `body.actions.${i}`));
        if (x.v.expires) body.expiresInS = Number(x.v.expires);
        const r = await x.c.call("createToken", { params: { tenant: t }, body });
        return x.out(r, r.token);
      }
      if (sub === "revoke") {
        const id = x.arg(2, "token revoke T ID");
        return x.out(await x.c.call("revokeToken", { params: { tenant: t, token: id } }), `revoked ${id}`);
      }
      x.fail("token ls | create | revoke");
    },
  },
  {
    name: "audit",
    help: ["audit [T] [--limit N]                the audit log (of tenant T), newest first"],
    flags: ["limit"],
    completes: "tenant",
    lists: true,
    async run(x) {
      const query: QueryIn<"listAudit"> = {};
      if (x.v.limit) query.limit = x.v.limit;
      if (x.args[0]) query.tenant = x.args[0];
      const r = await x.c.call("listAudit", { query });
      x.list(
        r,
        r.entries,
        [
          col<AuditRow>("at", (e) => e.at),
          col<AuditRow>("principal", (e) => e.principal),
          col<AuditRow>("action", (e) => e.action),
          col<AuditRow>("object", (e) => e.object),
          col<AuditRow>("status", (e) => e.status),
          col<AuditRow>("outcome", (e) => e.outcome),
          col<AuditRow>("count", (e) => e.count),
        ],
        "no entries",
      );
    },
  },
];
