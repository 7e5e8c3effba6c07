import type { FastifyRequest } from "fastify";
import { UmldError } from "../../core/errors.js";
import type { Scope } from "../auth/scope.js";

declare module "fastify" {
  interface FastifyRequest {
    scope: Scope | null;
    routeName: string | null;
    auditObject: string | null;
    errorCode: string | null;
  }
}

/** The scope of a request that got through authentication. */
export function scopeOf(req: FastifyRequest): Scope {
  if (!req.scope) throw new UmldError("unauthorized", "missing, invalid, revoked or expired bearer token");
  return req.scope;
}
