import type { IncomingMessage } from "node:http";
import { UmldError } from "../../core/errors.js";
import { statusOf } from "../../protocol/errors.js";
import type { Principal } from "../../core/tenants/principal.js";
import type { Tenants } from "../../core/tenants/tenants.js";
import { AuditCoalescer, type AuditDraft } from "./audit-coalescer.js";
import { localRequests, resolvePrincipal } from "./principals.js";
import { FLEET_HEADER } from "../../core/fleet/peer-auth.js";
import { addressKey, RateLimiter, type Verdict } from "./rate-limiter.js";
import { Scope } from "./scope.js";

/** Requests and upgrades whose refusal the gate audited already: the generic audit hook skips them. */
export const auditedByGate = new WeakSet<IncomingMessage>();

/** The budget key of an authenticated principal: its token, or the bootstrap admin token. */
export function budgetKey(p: Principal): string {
  return p.tokenId ? `token:${p.tokenId}` : p.kind === "metrics" ? "metrics" : "admin";
}

/**
 * The way in for HTTP requests and WebSocket upgrades alike: who is asking,
 * and whether they are within their budget (`--rate-limit` a minute per
 * token; per remote address for requests that fail authentication, so a
 * flood of bad tokens is refused with 429 and a valid token from the same
 * address is never held back by it). Refusals are audited coalesced: a flood
 * writes a few rows with counts, not a row per request. The local socket is
 * root: never limited.
 */
export class Gate {
  readonly limiter: RateLimiter;
  /** in a fleet: a request another host signed with the fleet secret, to the principal it acts for (throws unauthorized) */
  private peer: ((req: IncomingMessage, header: string) => Principal) | null = null;
  private readonly coalescer: AuditCoalescer;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly adminToken: string,
    private readonly tenants: Tenants,
    ratePerMinute: number,
    private readonly metricsToken: string | null = null,
  ) {
    this.limiter = new RateLimiter(ratePerMinute, 60_000);
    this.coalescer = new AuditCoalescer((row) => tenants.audit(row));
    this.timer = setInterval(() => {
      this.limiter.sweep();
      this.coalescer.flush();
    }, 60_000);
    this.timer.unref();
  }

  setPeerVerifier(verify: (req: IncomingMessage, header: string) => Principal): void {
    this.peer = verify;
  }

  /** The caller's principal: a peer request's (only with a valid fleet signature), else by its bearer token. */
  private principalOf(req: IncomingMessage, bearer?: string | null): Principal {
    const fleet = req.headers[FLEET_HEADER];
    if (fleet !== undefined) {
      if (!this.peer) throw new UmldError("unauthorized", "fleet request refused: this host is not in a fleet");
      return this.peer(req, Array.isArray(fleet) ? fleet.join(",") : fleet);
    }
    return resolvePrincipal(req, this.adminToken, this.tenants, this.metricsToken, bearer ?? undefined);
  }

  /** The caller's scope, or throws `unauthorized` (401) or `rate_limited` (429); `bearer`: the token presented (default: the Authorization header's). */
  admit(req: IncomingMessage, action: string, object: string | null = null, bearer?: string | null): Scope {
    if (localRequests.has(req)) return new Scope(resolvePrincipal(req, this.adminToken, this.tenants, this.metricsToken));
    const remote = req.socket.remoteAddress ?? null;
    let principal: Principal;
    try {
      principal = this.principalOf(req, bearer);
    } catch (e) {
      if (!(e instanceof UmldError) || e.code !== "unauthorized") throw e;
      const key = addressKey(remote ?? undefined);
      const v = this.limiter.hit(key);
      const err = v.ok ? e : limited(v, "address");
      this.refused(req, key, { principal: "anonymous", tenant: null, action, object, status: statusOf(err.code), outcome: err.code, remote });
      throw err;
    }
    const key = budgetKey(principal);
    const v = this.limiter.hit(key);
    if (!v.ok) {
      const err = limited(v, "token");
      this.refused(req, key, { principal: principal.label, tenant: principal.tenant, action, object, status: statusOf(err.code), outcome: err.code, remote });
      throw err;
    }
    return new Scope(principal);
  }

  /**
   * Requests that need no token (the dashboard's static files): only the
   * per-address budget, so a flood of them is refused like a flood of bad
   * tokens. Throws `rate_limited` (429).
   */
  admitAnonymous(req: IncomingMessage): void {
    if (localRequests.has(req)) return;
    const v = this.limiter.hit(addressKey(req.socket.remoteAddress ?? undefined));
    if (!v.ok) throw limited(v, "address");
  }

  /** Writes the summary rows still pending (daemon stopping). */
  close(): void {
    clearInterval(this.timer);
    this.coalescer.flush(Infinity);
  }

  private refused(req: IncomingMessage, key: string, entry: AuditDraft): void {
    auditedByGate.add(req);
    this.coalescer.note(key, entry);
  }
}

function limited(v: Extract<Verdict, { ok: false }>, per: "token" | "address"): UmldError {
  return new UmldError("rate_limited", `too many requests: at most ${v.limit} per minute per ${per}`, { retryAfterS: v.retryAfterS, limit: v.limit });
}
