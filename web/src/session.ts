import { ApiError, fetchTransport, UmldClient, webSocketProtocols, type Transport } from "../../client/index.js";
import type { Access, WhoAmI } from "../../protocol/tenants.js";

/** The token lives in this tab's sessionStorage only: gone when the tab closes or on sign-out, never in a cookie or a URL. */
const KEY = "umld.token";

/** A WebSocket URL on this page's own origin (ws: or wss: as the page). */
export function webSocketUrl(path: string): string {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
}

/**
 * The signed-in token: the typed client on this origin with it, who it is
 * (GET /v1/whoami), and WebSockets opened with it as a subprotocol. A 401 on
 * any call means the token was revoked or expired: `onRightsEnded` signs out.
 */
export class Session {
  readonly client: UmldClient;
  onRightsEnded: (why: string) => void = () => {};

  private constructor(
    private readonly token: string,
    readonly me: WhoAmI,
    transport: Transport,
  ) {
    this.client = new UmldClient({ transport, token });
  }

  /** Checks the token with the daemon and keeps it for this tab. */
  static async signIn(token: string): Promise<Session> {
    let session: Session | null = null;
    const base = fetchTransport(location.origin);
    const transport: Transport = async (req) => {
      const res = await base(req);
      if (res.status === 401 && session) session.onRightsEnded("the token is no longer valid (revoked or expired)");
      return res;
    };
    const me = await new UmldClient({ transport, token }).call("whoami");
    if (me.kind === "metrics") throw new Error("This is the metrics token: it reads /metrics only. Sign in with the admin token or a tenant's.");
    session = new Session(token, me, transport);
    sessionStorage.setItem(KEY, token);
    return session;
  }

  /** The session kept in this tab (a reload), or null. */
  static async resume(): Promise<Session | null> {
    const token = sessionStorage.getItem(KEY);
    if (!token) return null;
    try {
      return await Session.signIn(token);
    } catch (e) {
      if (ApiError.is(e, "unauthorized")) sessionStorage.removeItem(KEY);
      throw e;
    }
  }

  /** Forgets the token (the caller closes what was opened with it). */
  static forget(): void {
    sessionStorage.removeItem(KEY);
  }

  get admin(): boolean {
    return this.me.kind === "admin";
  }

  /** The name a person reads: "admin", or the tenant's. */
  get who(): string {
    return this.me.kind === "admin" ? (this.me.tenant ? `admin for ${this.me.tenant}` : "admin") : `tenant ${this.me.tenant ?? ""}`;
  }

  /**
   * May this token use something needing `access` (and for `power`, this
   * state action)? Mirrors the daemon's check (core/tenants/principal.ts) so
   * the dashboard hides what would be refused; the daemon still decides.
   */
  can(access: Access, action?: string): boolean {
    if (access === "any" || this.me.kind === "admin") return true;
    if (access === "admin") return false;
    const actions = this.me.actions ?? [];
    if (actions.includes(access)) return true;
    return access === "power" && actions.includes("reboot") && (action === "reboot" || action === "start");
  }

  /** A WebSocket on this daemon, authenticated by the token as a subprotocol (a browser cannot send Authorization). */
  webSocket(path: string): WebSocket {
    const ws = new WebSocket(webSocketUrl(path), webSocketProtocols(this.token));
    ws.binaryType = "arraybuffer";
    return ws;
  }
}
