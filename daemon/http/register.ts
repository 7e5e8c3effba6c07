import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import { contract, ROUTE_NAMES, type BodyOf, type ParamsOf, type QueryOf, type ResponseIn, type RouteDef, type RouteName } from "../../protocol/contract.js";
import { routePath } from "../../protocol/paths.js";
import { UmldError } from "../../core/errors.js";
import { validationError } from "./errors.js";

/** One request to route N, its params, query and body parsed by the route's schemas (defaults applied). */
export interface Call<N extends RouteName> {
  name: N;
  params: ParamsOf<N>;
  query: QueryOf<N>;
  body: BodyOf<N>;
}

/** A call to any route; `switch (call.name)` narrows params and body to that route's. */
export type AnyCall = { [N in RouteName]: Call<N> }[RouteName];
/** An answer of any route; `switch (a.name)` narrows the result to that route's. */
export type AnyAnswer = { [N in RouteName]: { name: N; result: ResponseIn<N> } }[RouteName];

// TypeScript cannot relate a value typed by a generic route N to the union over all routes
// (microsoft/TypeScript#30581, "correlated unions"); these two are the only widenings, and the
// objects are built right here from one N, so name and payload always belong together.
export const anyCall = <N extends RouteName>(call: Call<N>): AnyCall => call as AnyCall;
export const anyAnswer = <N extends RouteName>(name: N, result: ResponseIn<N>): AnyAnswer => ({ name, result }) as AnyAnswer;

/**
 * Serves one request to route N; `parse` validates its params, query and body
 * (throwing invalid_request), so the caller decides what comes before that.
 * What it returns is checked against the route's response schema for the reply's status.
 */
export type Serve = <N extends RouteName>(name: N, req: FastifyRequest, reply: FastifyReply, parse: () => Call<N>) => Promise<unknown>;

function parsePart(schema: z.ZodType | undefined, value: unknown, where: "body" | "params" | "query"): unknown {
  if (!schema) return undefined;
  const r = schema.safeParse(value ?? (where === "body" ? undefined : {}));
  if (!r.success) throw validationError(where, r.error);
  return r.data;
}

/**
 * The answer as the contract says it: parsed by the schema of the status the
 * reply carries, so fields the schema does not name never leave the daemon,
 * and an answer that breaks the contract is a 500 naming the field instead
 * of a surprise for the client.
 */
export function serialize(name: RouteName, def: RouteDef, status: number, result: unknown): unknown {
  const schema = def.responses[status];
  if (!schema) throw new UmldError("internal", `route ${name} has no answer with status ${status} in the protocol`, { route: name, status });
  const r = schema.safeParse(result);
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message }));
    throw new UmldError("internal", `the answer of ${name} does not match the protocol`, { route: name, status, issues: issues.slice(0, 10) });
  }
  return r.data;
}

function registerOne<N extends RouteName>(app: FastifyInstance, name: N, serve: Serve): void {
  const def: RouteDef = contract[name];
  app.route({
    method: def.method,
    url: routePath(def),
    handler: async (req, reply) => {
      // the parts are parsed by contract[name]'s own schemas: their outputs are the route's types
      const parse = () =>
        ({
          name,
          params: parsePart(def.params, req.params, "params"),
          query: parsePart(def.query, req.query, "query"),
          body: parsePart(def.body, req.body, "body"),
        }) as Call<N>;
      reply.code(def.status);
      const result = await serve(name, req, reply, parse);
      const body = serialize(name, def, reply.statusCode, result);
      if (def.contentType) void reply.type(def.contentType); // a text answer, sent as is
      return body;
    },
  });
}

/** Registers every route of the contract under /v1: params, query and body validated, answers serialized by their schemas. */
export function registerContract(app: FastifyInstance, serve: Serve): void {
  for (const name of ROUTE_NAMES) registerOne(app, name, serve);
}
