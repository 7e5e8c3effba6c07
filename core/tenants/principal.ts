import type { Permission } from "../../protocol/tenants.js";

/**
 * Who a request is from. Admins act on every object; with `actingFor` they
 * act as that tenant (its names, its quotas). A tenant sees and names only
 * its own objects, stored under the prefix `<tenant>.` that tenant names
 * cannot contain.
 */
export interface Principal {
  kind: "admin" | "tenant";
  /** For the audit log: "local", "admin", "admin:<token>", "<tenant>:<token>". */
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
