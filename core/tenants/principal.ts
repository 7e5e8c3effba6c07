import type { Access, Permission } from "../../protocol/tenants.js";
import { UmldError } from "../errors.js";

/**
 * Who a request is from. Admins act on every object; with `actingFor` they
 * act as that tenant (its names, its quotas). A tenant sees and names only
 * its own objects, stored under the prefix `<tenant>.` that tenant names
 * cannot contain.
 */
export interface Principal {
  /** metrics: the host's metrics token (STATE/metrics.token), good for GET /metrics only */
  kind: "admin" | "tenant" | "metrics";
  /** For the audit log: "local", "admin", "admin:<token>", "<tenant>:<token>", "metrics". */
  label: string;
  tokenId: string | null;
  /** The tenant whose namespace applies: the token's, or the one an admin acts for. */
  tenant: string | null;
  /** Tenant tokens only. */
  actions: ReadonlySet<Permission> | null;
  /** When the token stops working (ms since the epoch); absent: never. Live sessions end then. */
  expiresAt?: number | null;
}

export const TENANT_SEPARATOR = ".";

export function prefixOf(tenant: string): string {
  return tenant + TENANT_SEPARATOR;
}

/** `<tenant>.<name>` → its tenant and its name in the tenant; a plain name is the admin's. */
export function ownerOfName(stored: string): { tenant: string | null; name: string } {
  const dot = stored.indexOf(TENANT_SEPARATOR);
  return dot > 0 ? { tenant: stored.slice(0, dot), name: stored.slice(dot + 1) } : { tenant: null, name: stored };
}

/**
 * Throws `forbidden` (403) unless the principal may use something needing
 * `access`. A token with `reboot` alone may start and reboot (restart a
 * crashed or hung guest), nothing else of `power`. `what` names the verb in
 * the message ("instance.halt", or a state action).
 */
export function authorize(p: Principal, access: Access, what?: string): void {
  if (access === "any" || p.kind === "admin") return;
  if (p.kind === "metrics") {
    if (access === "metrics") return;
    throw new UmldError("forbidden", "the metrics token is for GET /metrics only", { needs: access });
  }
  if (access === "admin") throw new UmldError("forbidden", "this endpoint is for admins", { needs: "admin" });
  if (p.actions!.has(access)) return;
  const action = what?.replace(/^instance\./, "");
  if (access === "power" && p.actions!.has("reboot") && (action === "reboot" || action === "start")) return;
  throw new UmldError("forbidden", `this token may not ${access === "power" && action ? action : access}`, { needs: access, action });
}
