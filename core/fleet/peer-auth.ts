import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Permission } from "../../protocol/tenants.js";
import { PERMISSIONS } from "../../protocol/tenants.js";
import type { Principal } from "../tenants/principal.js";

/** The header a fleet host signs its requests to another with; a client's request carrying it must verify, or is refused. */
export const FLEET_HEADER = "umld-fleet";

/** How far apart two hosts' clocks may be (hosts run NTP). */
export const MAX_SKEW_MS = 30_000;

/** Who a request is forwarded for: the principal the first host authenticated. */
export interface ForwardedPrincipal {
  kind: Principal["kind"];
  label: string;
  tokenId: string | null;
  tenant: string | null;
  actions: string[] | null;
  expiresAt: number | null;
}

/**
 * A host's request to another: which host sends it to which, the exact
 * method, path (with query) and body (sha256), when, a nonce, and for whom
 * (null: the host itself, for the fleet's own endpoints). Signed with the
 * fleet secret (HMAC-SHA256), which only hosts hold.
 */
export interface FleetClaim {
  v: 1;
  from: string;
  to: string;
  method: string;
  path: string;
  bodySha256: string;
  at: number;
  nonce: string;
  principal: ForwardedPrincipal | null;
}

export const sha256Hex = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

export function forwardedOf(p: Principal): ForwardedPrincipal {
  return { kind: p.kind, label: p.label, tokenId: p.tokenId, tenant: p.tenant, actions: p.actions ? [...p.actions] : null, expiresAt: p.expiresAt ?? null };
}

/** The principal a verified claim carries, as the receiving host acts for it. */
export function principalOf(f: ForwardedPrincipal, via: string): Principal {
  const actions = f.actions ? new Set(f.actions.filter((a): a is Permission => (PERMISSIONS as readonly string[]).includes(a))) : null;
  if (f.kind === "metrics") return { kind: "metrics", label: `metrics via ${via}`, tokenId: null, tenant: null, actions: new Set(["metrics"]) };
  return { kind: f.kind, label: `${f.label} via ${via}`, tokenId: f.tokenId, tenant: f.tenant, actions: f.kind === "tenant" ? (actions ?? new Set()) : null, expiresAt: f.expiresAt };
}

/** Why a fleet header is refused. */
export class FleetAuthError extends Error {
  override readonly name = "FleetAuthError";
}

/** Signs and verifies fleet headers with the shared secret; remembers nonces for the skew window so nothing is accepted twice. */
export class PeerAuth {
  private readonly seen = new Map<string, number>();
  /** nonces seen before this process started are forgotten: nothing signed before it is accepted (hosts run NTP) */
  private readonly since = Date.now();

  constructor(
    private readonly secret: Buffer,
    readonly self: string,
  ) {
    if (secret.length < 32) throw new RangeError("the fleet secret must be at least 32 bytes");
  }

  sign(to: string, method: string, path: string, body: string | Buffer | null, principal: ForwardedPrincipal | null, now = Date.now()): string {
    const claim: FleetClaim = {
      v: 1,
      from: this.self,
      to,
      method: method.toUpperCase(),
      path,
      bodySha256: body === null || body.length === 0 ? "" : sha256Hex(body),
      at: now,
      nonce: randomBytes(16).toString("hex"),
      principal,
    };
    const payload = Buffer.from(JSON.stringify(claim)).toString("base64url");
    return `${payload}.${this.mac(payload)}`;
  }

  /**
   * The claim of a header, if it was signed with the fleet secret for this
   * host, for this method and path, recently, and never seen before; throws
   * FleetAuthError otherwise. The body is checked separately (`bodyMatches`),
   * once it has been read.
   */
  verify(header: string, method: string, path: string, now = Date.now()): FleetClaim {
    const dot = header.indexOf(".");
    if (dot <= 0) throw new FleetAuthError("malformed fleet header");
    const payload = header.slice(0, dot);
    const mac = Buffer.from(header.slice(dot + 1), "base64url");
    const want = Buffer.from(this.mac(payload), "base64url");
    if (mac.length !== want.length || !timingSafeEqual(mac, want)) throw new FleetAuthError("fleet header not signed with the fleet secret");
    let claim: FleetClaim;
    try {
      claim = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as FleetClaim;
    } catch {
      throw new FleetAuthError("malformed fleet header");
    }
    if (claim.v !== 1 || claim.to !== this.self) throw new FleetAuthError("fleet header is for another host");
    if (claim.method !== method.toUpperCase() || claim.path !== path) throw new FleetAuthError("fleet header is for another request");
    if (Math.abs(now - claim.at) > MAX_SKEW_MS) throw new FleetAuthError("fleet header too old (or the hosts' clocks differ)");
    if (claim.at < this.since) throw new FleetAuthError("fleet header signed before this host started (a replay, or the hosts' clocks differ)");
    this.sweep(now);
    if (this.seen.has(claim.nonce)) throw new FleetAuthError("fleet header replayed");
    this.seen.set(claim.nonce, claim.at);
    return claim;
  }

  private mac(payload: string): string {
    return createHmac("sha256", this.secret).update("umld-fleet-v1\n").update(payload).digest("base64url");
  }

  private sweep(now: number): void {
    for (const [nonce, at] of this.seen) if (Math.abs(now - at) > MAX_SKEW_MS) this.seen.delete(nonce);
  }
}

/** Does the body received match the one signed? */
export function bodyMatches(claim: FleetClaim, body: string | Buffer | null | undefined): boolean {
  const got = body === null || body === undefined || body.length === 0 ? "" : sha256Hex(body);
  return got === claim.bodySha256;
}
