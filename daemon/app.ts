import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { UmldError } from "../core/errors.js";
import { localRequests } from "./auth/principals.js";
import { auditedByGate, Gate } from "./auth/gate.js";
import { isDashboardRequest, loadDashboard, registerDashboard, type Dashboard } from "./http/dashboard.js";
import { toErrorResponse } from "./http/errors.js";
import "./http/request-context.js";
import { registerRoutes } from "./http/routes.js";
import { checkPeerBody } from "./http/peers.js";
import { registerFleetPeer } from "./http/fleet-peer.js";
import { dirname } from "node:path";
import type { Services } from "./services.js";

export { localRequests };

/** Reads that are audited like writes: a console log is what the console showed. */
const AUDITED_READS = new Set(["consoleLog"]);

/** A certificate and key (PEM) for the TCP listener. */
export interface Tls {
  cert: Buffer;
  key: Buffer;
}

export interface Limits {
  /** Requests and WebSocket upgrades per token (or per address without a valid one) per minute; the local socket is not limited. */
  ratePerMinute: number;
  bodyLimitBytes: number;
}
export const DEFAULT_LIMITS: Limits = { ratePerMinute: 1200, bodyLimitBytes: 64 * 1024 };

/**
 * The HTTP app without listening: used by the daemon and by tests through
 * inject(). `gate` authenticates and rate-limits; the daemon shares it with
 * the WebSocket upgrades so both draw on one budget.
 */
export async function buildApp(
  s: Services,
  limits: Limits = DEFAULT_LIMITS,
  tls?: Tls,
  gate = new Gate(s.adminToken, s.tenants, limits.ratePerMinute),
  dashboard: Dashboard | null = loadDashboard(),
): Promise<FastifyInstance> {
  // maxParamLength: an admin names "<tenant>.<name>" (up to 127 characters) in paths
  // frameworkErrors: the router's own refusals (an overlong or badly encoded path segment) answer in the error registry's form too
  const options = {
    logger: false,
    bodyLimit: limits.bodyLimitBytes,
    return503OnClosing: true,
    trustProxy: false,
    maxParamLength: 256,
    frameworkErrors: (err: FastifyError, _req: FastifyRequest, reply: FastifyReply) => {
      const { status, body } = toErrorResponse(err);
      void reply.code(status).type("application/json").send(body);
    },
  } as const;
  const app = (tls ? Fastify({ ...options, https: { cert: tls.cert, key: tls.key, minVersion: "TLSv1.2" } }) : Fastify(options)) as unknown as FastifyInstance;
  app.decorateRequest("scope", null);
  app.decorateRequest("routeName", null);
  app.decorateRequest("auditObject", null);
  app.decorateRequest("errorCode", null);
  // an empty body with a JSON content type (e.g. a DELETE from some clients) is no body, not an error
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === "") return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      done(new UmldError("invalid_request", `malformed JSON: ${(e as Error).message}`), undefined);
    }
  });
  app.addHook("onClose", async () => gate.close());
  // the first hook: budgets apply before anything else is done for a request, bad tokens included (per address)
  app.addHook("onRequest", async (req) => {
    if (isDashboardRequest(req)) return gate.admitAnonymous(req.raw); // static files: no token, the address's budget
    req.scope = gate.admit(req.raw, `${req.method} ${req.url.split("?")[0]!.slice(0, 200)}`);
  });
  // a peer request's body must be the one its sender signed
  app.addHook("preHandler", async (req) => checkPeerBody(req));
  app.addHook("onResponse", async (req, reply) => {
    s.metrics.requestDuration.observe({ route: req.routeName ?? "none", method: req.method, code: String(reply.statusCode) }, reply.elapsedTime / 1000);
    if ((req.method === "GET" || req.method === "HEAD") && !AUDITED_READS.has(req.routeName ?? "")) return;
    if (auditedByGate.has(req.raw)) return; // a refusal in a flood: audited coalesced by the gate
    s.log.info({ method: req.method, url: req.url.split("?")[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime), principal: req.scope?.principal.label ?? "anonymous" }, "api request");
    s.tenants.audit({
      principal: req.scope?.principal.label ?? "anonymous",
      tenant: req.scope?.principal.tenant ?? null,
      action: req.routeName ?? `${req.method} ${req.url.split("?")[0]!.slice(0, 200)}`,
      object: req.auditObject,
      status: reply.statusCode,
      outcome: reply.statusCode < 400 ? "ok" : (req.errorCode ?? "error"),
      remote: localRequests.has(req.raw) ? "local" : req.ip,
    });
  });
  app.setErrorHandler((err, req, reply) => {
    const { status, body } = toErrorResponse(err);
    req.errorCode = body.error.code;
    if (status >= 500) s.log.error({ err, url: req.url.split("?")[0] }, "request failed"); // a query may hold what a client should not have sent
    if (status === 429) void reply.header("retry-after", String((body.error.details as { retryAfterS?: number } | undefined)?.retryAfterS ?? 60));
    void reply
      .code(status)
      .type("application/json")
      .send(req.scope ? req.scope.present(body) : body);
  });
  app.setNotFoundHandler((req, reply) => {
    const { status, body } = toErrorResponse(new UmldError("route_not_found", `no endpoint ${req.method} ${req.url.split("?")[0]!.slice(0, 200)}`));
    req.errorCode = body.error.code;
    void reply.code(status).send(body);
  });
  registerRoutes(app, s);
  registerFleetPeer(app, s, dirname(s.catalog.imagesDirectory()));
  registerDashboard(app, dashboard);
  return app;
}
