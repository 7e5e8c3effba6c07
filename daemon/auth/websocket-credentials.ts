import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import { WS_BEARER_PREFIX, WS_PROTOCOL } from "../../protocol/websocket-auth.js";
import { UmldError } from "../../core/errors.js";
import { bearerOf } from "./token.js";

/**
 * The token a WebSocket upgrade presents: its Authorization header (CLI,
 * scripts), or else the `umld.bearer.<base64url>` subprotocol a browser
 * offers (it cannot set headers on a WebSocket). Never a query parameter:
 * URLs end up in logs and histories.
 */
export function webSocketBearer(req: IncomingMessage): string | null {
  const header = bearerOf(req.headers.authorization);
  if (header !== null) return header;
  const offered = String(req.headers["sec-websocket-protocol"] ?? "")
    .split(",")
    .map((p) => p.trim());
  const entry = offered.find((p) => p.startsWith(WS_BEARER_PREFIX));
  if (entry === undefined) return null;
  const token = Buffer.from(entry.slice(WS_BEARER_PREFIX.length), "base64url").toString("utf8");
  return token.length > 0 ? token : null;
}

/** The subprotocol the daemon answers with: `umld.v1` when offered, never the token entry (ws would echo the first one offered). */
export function selectProtocol(offered: Set<string>): string | false {
  return offered.has(WS_PROTOCOL) ? WS_PROTOCOL : false;
}

/**
 * Refuses (403) an upgrade a browser makes from a page of another origin: a
 * browser always sends Origin on a WebSocket, other clients usually none. No
 * credential rides along by itself today (no cookies), so this is defence in
 * depth: a page elsewhere that got hold of a token still cannot use it here.
 */
export function checkOrigin(req: IncomingMessage): void {
  const origin = req.headers.origin;
  if (origin === undefined) return;
  const scheme = (req.socket as Partial<TLSSocket>).encrypted ? "https:" : "http:";
  let same = false;
  try {
    const o = new URL(origin);
    same = o.protocol === scheme && o.host === new URL(`${scheme}//${req.headers.host ?? ""}`).host;
  } catch {
    same = false; // "null" (sandboxed frames, files) and garbage
  }
  if (!same) throw new UmldError("forbidden", "cross-origin WebSocket upgrades are refused: open the dashboard from this daemon's own address", { origin: origin.slice(0, 200) });
}
