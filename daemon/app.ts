import Fastify, { type FastifyInstance } from "fastify";
import type { IncomingMessage } from "node:http";
import { UmldError } from "../core/errors.js";
import { bearerMatches } from "./auth/token.js";
import { toErrorResponse } from "./http/errors.js";
import { registerRoutes } from "./http/routes.js";
import type { Services } from "./services.js";

/** Requests that arrived on the local unix socket (mode 0600: root only) need no token. */
export const localRequests = new WeakSet<IncomingMessage>();

export function isAuthenticated(req: IncomingMessage, token: string): boolean {
  return localRequests.has(req) || bearerMatches(req.headers.authorization, token);
}

/** The HTTP app without listening: used by the daemon and by tests through inject(). */
export function buildApp(s: Services): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024, return503OnClosing: true });
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
  app.addHook("onRequest", async (req) => {
    if (!isAuthenticated(req.raw, s.adminToken)) throw new UmldError("unauthorized", "missing or invalid bearer token");
  });
  app.addHook("onResponse", async (req, reply) => {
    if (req.method !== "GET") {
      s.log.info({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, "api request");
    }
  });
  app.setErrorHandler((err, req, reply) => {
    const { status, body } = toErrorResponse(err);
    if (status >= 500) s.log.error({ err, url: req.url }, "request failed");
    void reply.code(status).type("application/json").send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    const { status, body } = toErrorResponse(new UmldError("route_not_found", `no endpoint ${req.method} ${req.url.split("?")[0]}`));
    void reply.code(status).send(body);
  });
  registerRoutes(app, s);
  return app;
}
