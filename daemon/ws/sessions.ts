import type { Logger } from "pino";
import { UmldError } from "../../core/errors.js";
import type { Principal } from "../../core/tenants/principal.js";
import type { RightsEnded, Tenants } from "../../core/tenants/tenants.js";
import { budgetKey } from "../auth/gate.js";

/** Close code of a WebSocket whose token was revoked or expired, or whose tenant was deleted. */
export const RIGHTS_ENDED = 4401;
/** A peer that does not answer our close frame is cut off after this: nothing it sends counts meanwhile. */
export const CLOSE_GRACE_MS = 1000;
/** The grace of a reader dropped for being slow. */
export const SLOW_READER_GRACE_MS = 30_000;
/** setTimeout's longest delay; later expiries re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface SessionLimits {
  /** Open WebSockets per token (the bootstrap admin token counts as one); the local socket is not limited. */
  perToken: number;
  /** Console viewers per instance opened by tenant tokens (all channels); admins are never refused. */
  viewersPerInstance: number;
}
export const DEFAULT_SESSION_LIMITS: SessionLimits = { perToken: 32, viewersPerInstance: 16 };

/** What a session needs of a WebSocket. */
export interface SessionSocket {
  close(code: number, reason: string): void;
  terminate(): void;
  once(event: "close", listener: () => void): unknown;
}

export type SessionKind = "events" | "console";

/** One open WebSocket and the rights it was opened with. */
export class Session {
  private cleanups: Array<() => void> = [];
  private expiry: NodeJS.Timeout | null = null;
  ended = false;

  constructor(
    readonly ws: SessionSocket,
    readonly principal: Principal,
    readonly local: boolean,
    readonly kind: SessionKind,
    /** the stored instance name, for consoles */
    readonly instance: string | null,
    private readonly forget: (s: Session) => void,
  ) {
    ws.once("close", () => this.finish());
    if (principal.expiresAt != null) this.armExpiry(principal.expiresAt);
  }

  /** Runs when the session ends, whoever ends it (detach the console, leave the bus). */
  onEnd(fn: () => void): void {
    if (this.ended) fn();
    else this.cleanups.push(fn);
  }

  /**
   * Ends the session now: nothing more is delivered or accepted; the socket
   * gets a close frame and is cut after `graceMs` if the peer does not answer
   * (longer for a slow reader, whose close frame waits behind its backlog).
   */
  end(code: number, reason: string, graceMs = CLOSE_GRACE_MS): void {
    if (this.ended) return;
    this.finish();
    this.ws.close(code, reason);
    setTimeout(() => this.ws.terminate(), graceMs).unref();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.expiry) clearTimeout(this.expiry);
    this.forget(this);
    for (const fn of this.cleanups.splice(0)) fn();
  }

  private armExpiry(at: number): void {
    const left = at - Date.now();
    if (left <= 0) {
      queueMicrotask(() => this.end(RIGHTS_ENDED, "token expired"));
      return;
    }
    this.expiry = setTimeout(() => (left > MAX_TIMER_MS ? this.armExpiry(at) : this.end(RIGHTS_ENDED, "token expired")), Math.min(left, MAX_TIMER_MS));
    this.expiry.unref();
  }
}

/**
 * Every open WebSocket with the principal it authenticated as. Rights are
 * checked once at the upgrade, so the sessions follow them afterwards: a
 * revoked token's sockets and a deleted tenant's close at once (4401; the
 * Tenants service tells us synchronously), an expiring token's at its expiry
 * (a timer per session). Admins acting for a tenant (`Umld-Tenant`) hold the
 * admin's rights, not the tenant's: its deletion leaves them open.
 */
export class Sessions {
  private all = new Set<Session>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly limits: SessionLimits,
    tenants: Pick<Tenants, "onRightsEnded">,
    private readonly log?: Logger,
  ) {
    this.unsubscribe = tenants.onRightsEnded((e) => this.rightsEnded(e));
  }

  get size(): number {
    return this.all.size;
  }

  /** Refuses an upgrade (429 `too_many_websockets`) that would pass a cap; call it right before the upgrade. */
  admit(principal: Principal, local: boolean, kind: SessionKind, instance: string | null): void {
    if (local) return;
    const key = budgetKey(principal);
    let forToken = 0;
    let viewers = 0;
    for (const s of this.all) {
      if (!s.local && budgetKey(s.principal) === key) forToken++;
      if (s.kind === "console" && s.instance === instance && s.principal.kind === "tenant") viewers++;
    }
    if (forToken >= this.limits.perToken) {
      throw new UmldError("too_many_websockets", `this token has ${forToken} WebSockets open, the most allowed; close one first`, { per: "token", limit: this.limits.perToken });
    }
    if (kind === "console" && principal.kind === "tenant" && viewers >= this.limits.viewersPerInstance) {
      throw new UmldError("too_many_websockets", `the instance has ${viewers} console viewers, the most allowed; close one first`, { per: "instance", limit: this.limits.viewersPerInstance });
    }
  }

  open(ws: SessionSocket, principal: Principal, local: boolean, kind: SessionKind, instance: string | null = null): Session {
    const s = new Session(ws, principal, local, kind, instance, (x) => this.all.delete(x));
    if (!s.ended) this.all.add(s);
    return s;
  }

  /** Ends every session (daemon stopping). */
  close(code: number, reason: string): void {
    this.unsubscribe();
    for (const s of [...this.all]) s.end(code, reason);
  }

  private rightsEnded(e: RightsEnded): void {
    const hit = e.kind === "token-revoked" ? (s: Session) => s.principal.tokenId === e.tokenId : (s: Session) => s.principal.kind === "tenant" && s.principal.tenant === e.tenant;
    const reason = e.kind === "token-revoked" ? "token revoked" : "tenant deleted";
    let n = 0;
    for (const s of [...this.all]) {
      if (!hit(s)) continue;
      s.end(RIGHTS_ENDED, reason);
      n++;
    }
    if (n) this.log?.info({ ...e, sessions: n }, "live sessions ended");
  }
}
