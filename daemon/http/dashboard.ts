import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { UmldError } from "../../core/errors.js";

/** Where `npm run build` puts the dashboard (scripts/build-web.ts). */
export const DASHBOARD_DIR = fileURLToPath(new URL("../../web/", import.meta.url));
/** The placeholder of a response's nonce in index.html. */
export const NONCE_PLACEHOLDER = "__UMLD_NONCE__";

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

interface Asset {
  type: string;
  body: Buffer;
  br: Buffer | null;
  gzip: Buffer | null;
}

/** The built dashboard, read once at start: a request picks an entry of this map by name, never a path on disk. */
export interface Dashboard {
  index: string;
  assets: Map<string, Asset>;
}

/** Reads the build output; null when the dashboard was not built. */
export function loadDashboard(dir = DASHBOARD_DIR): Dashboard | null {
  if (!existsSync(`${dir}index.html`)) return null;
  const assets = new Map<string, Asset>();
  const optional = (p: string) => (existsSync(p) ? readFileSync(p) : null);
  for (const name of readdirSync(`${dir}assets`)) {
    const type = TYPES[name.slice(name.lastIndexOf("."))];
    if (!type) continue; // .br, .gz and anything else are not served by themselves
    const path = `${dir}assets/${name}`;
    assets.set(name, { type, body: readFileSync(path), br: optional(`${path}.br`), gzip: optional(`${path}.gz`) });
  }
  return { index: readFileSync(`${dir}index.html`, "utf8"), assets };
}

/**
 * The dashboard's Content-Security-Policy: scripts and styles from this
 * origin only, no inline script at all; `<style>` elements only with this
 * response's nonce (xterm.js makes a few for its theme and cell size; the
 * dashboard stamps them, web/src/csp.ts); requests and WebSockets to this
 * origin only; never framed.
 */
export function contentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self' 'nonce-${nonce}'`,
    "img-src 'self'",
    "font-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

function common(reply: FastifyReply): FastifyReply {
  return reply
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "no-referrer")
    .header("cross-origin-opener-policy", "same-origin")
    .header("cross-origin-resource-policy", "same-origin");
}

/** Which encoding to send: brotli, then gzip, when the client takes it and the build made one. */
function encoding(req: FastifyRequest, a: Asset): "br" | "gzip" | null {
  const accepted = String(req.headers["accept-encoding"] ?? "");
  if (a.br && /\bbr\b/.test(accepted)) return "br";
  if (a.gzip && /\bgzip\b/.test(accepted)) return "gzip";
  return null;
}

/**
 * Serves the dashboard at `/` (index.html, a fresh nonce each time, never
 * cached) and `/assets/<name>` (content-hashed names, cached for a year).
 * No token is needed for these files, which hold no data; everything they
 * show comes from the API with the signed-in token.
 */
export function registerDashboard(app: FastifyInstance, dashboard: Dashboard | null): void {
  const config = { dashboard: true };
  app.get("/", { config }, async (_req, reply) => {
    if (!dashboard) throw new UmldError("route_not_found", "the dashboard is not built: run npm run build (or scripts/setup)");
    const nonce = randomBytes(18).toString("base64");
    return common(reply)
      .header("content-security-policy", contentSecurityPolicy(nonce))
      .header("x-frame-options", "DENY")
      .header("cache-control", "no-store")
      .type("text/html; charset=utf-8")
      .send(dashboard.index.replaceAll(NONCE_PLACEHOLDER, nonce));
  });
  app.get<{ Params: { file: string } }>("/assets/:file", { config }, async (req, reply) => {
    const a = dashboard?.assets.get(req.params.file);
    if (!a) throw new UmldError("route_not_found", `no dashboard file ${req.params.file.slice(0, 100)}`);
    const enc = encoding(req, a);
    common(reply).header("cache-control", "public, max-age=31536000, immutable").header("vary", "accept-encoding").type(a.type);
    if (enc) reply.header("content-encoding", enc);
    return reply.send(enc === "br" ? a.br : enc === "gzip" ? a.gzip : a.body);
  });
}

/** Is this a request for the dashboard's files (no token needed)? */
export function isDashboardRequest(req: FastifyRequest): boolean {
  return (req.routeOptions.config as { dashboard?: boolean } | undefined)?.dashboard === true;
}
