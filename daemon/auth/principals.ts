import type { IncomingMessage } from "node:http";
import { Name } from "../../protocol/names.js";
import { UmldError } from "../../core/errors.js";
import type { Principal } from "../../core/tenants/principal.js";
import type { Tenants } from "../../core/tenants/tenants.js";
import { bearerOf, tokenMatches } from "./token.js";

/** Requests that arrived on the local unix socket (mode 0600, owned by root: only root connects). */
export const localRequests = new WeakSet<IncomingMessage>();

export const TENANT_HEADER = "umld-tenant";

/**
 * Who sent a request: the unix socket is root, hence admin; over TCP the
 * bearer token decides (the bootstrap admin token in STATE/admin.token, the
 * metrics token in STATE/metrics.token, or a token umld issued). An admin
 * may act for a tenant with `Umld-Tenant`. `bearer` is the token presented:
 * the Authorization header's by default (a WebSocket upgrade may carry it as
 * a subprotocol: websocket-credentials.ts).
 */
export function resolvePrincipal(req: IncomingMessage, adminToken: string, tenants: Tenants, metricsToken: string | null = null, bearer = bearerOf(req.headers.authorization)): Principal {
  let p: Principal | null = null;
  if (localRequests.has(req)) p = { kind: "admin", label: "local", tokenId: null, tenant: null, actions: null };
  else if (tokenMatches(bearer, adminToken)) p = { kind: "admin", label: "admin", tokenId: null, tenant: null, actions: null };
  else if (metricsToken && tokenMatches(bearer, metricsToken)) p = { kind: "metrics", label: "metrics", tokenId: null, tenant: null, actions: new Set(["metrics"]) };
  else if (bearer !== null) p = tenants.authenticate(bearer);
  if (!p) throw new UmldError("unauthorized", "missing, invalid, revoked or expired bearer token");
  const acting = req.headers[TENANT_HEADER];
  if (acting !== undefined) {
    const name = Name.safeParse(Array.isArray(acting) ? acting[0] : acting);
    if (!name.success) throw new UmldError("invalid_request", `${TENANT_HEADER} must be a tenant name`, { header: TENANT_HEADER });
    if (p.kind === "tenant" && name.data !== p.tenant) throw new UmldError("forbidden", "a tenant token acts for its own tenant only", { header: TENANT_HEADER });
    if (p.kind === "metrics") throw new UmldError("forbidden", "the metrics token acts for no tenant", { header: TENANT_HEADER });
    if (p.kind === "admin") {
      if (!tenants.exists(name.data)) throw new UmldError("tenant_not_found", `no tenant named '${name.data}'`, { tenant: name.data });
      p = { ...p, tenant: name.data };
    }
  }
  return p;
}
