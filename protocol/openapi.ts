import { z } from "zod";
import * as disks from "./disks.js";
import * as errors from "./errors.js";
import * as events from "./events.js";
import * as guest from "./guest.js";
import * as host from "./host.js";
import * as images from "./images.js";
import * as instances from "./instances.js";
import * as kernels from "./kernels.js";
import * as networks from "./networks.js";
import * as operations from "./operations.js";
import * as snapshots from "./snapshots.js";
import * as tenants from "./tenants.js";
import * as usage from "./usage.js";
import * as version from "./version.js";
import { routePath } from "./paths.js";
import { contract, routeScopes, websockets, ROUTE_NAMES, type RouteDef, type WebSocketDef } from "./contract.js";

type Json = Record<string, unknown>;
export interface OpenApi {
  openapi: string;
  info: { title: string; version: string; [k: string]: unknown };
  paths: Record<string, unknown>;
  [k: string]: unknown;
}

const MODULES = [errors, version, instances, operations, images, events, disks, kernels, guest, snapshots, networks, tenants, host, usage];
const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });

/** Exported schemas by object, named as exported (the first name wins); they become the document's components. */
function exportedNames(): Map<z.ZodType, string> {
  const names = new Map<z.ZodType, string>();
  for (const mod of MODULES) {
    for (const [name, value] of Object.entries(mod)) if (value instanceof z.ZodType && !names.has(value)) names.set(value, name);
  }
  return names;
}

const isComponent = (s: z.ZodType) => s instanceof z.ZodObject || s instanceof z.ZodDiscriminatedUnion;

function convert(registry: z.core.$ZodRegistry<{ id: string }>, io: "input" | "output"): Record<string, Json> {
  const out = z.toJSONSchema(registry, { target: "draft-2020-12", io, unrepresentable: "any", uri: (id) => `#/components/schemas/${id}` });
  const schemas: Record<string, Json> = {};
  for (const [id, schema] of Object.entries(out.schemas)) {
    const { $schema: _drop, $id: _id, ...rest } = schema as Json;
    schemas[id] = rest;
  }
  return schemas;
}

function inline(schema: z.ZodType, io: "input" | "output"): Json {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { target: "draft-2020-12", io, unrepresentable: "any" }) as Json;
  return rest;
}

/** Path or query parameters from an object schema. */
function parameters(schema: z.ZodType | undefined, where: "path" | "query"): Json[] {
  if (!schema) return [];
  const json = inline(schema, "input");
  const props = (json.properties ?? {}) as Record<string, Json>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(props).map(([name, s]) => {
    const { description, ...rest } = s;
    return { name, in: where, required: where === "path" || required.has(name), ...(description ? { description } : {}), schema: rest };
  });
}

const openApiPath = (def: { path: string; unversioned?: true }) => routePath(def).replace(/:(\w+)/g, "{$1}");
const tagOf = (path: string) => {
  const first = path.split("/")[1] ?? "";
  return ["health", "version", "openapi.json", "metrics", "usage"].includes(first) ? "daemon" : first;
};

/** What an error status means, with the registry's codes that have it (one shared response object per status). */
function errorResponses(): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const status of [...new Set(Object.values(errors.ERRORS).map((e) => e.status))].sort()) {
    const codes = Object.entries(errors.ERRORS)
      .filter(([, e]) => e.status === status)
      .map(([c]) => `\`${c}\``);
    out[`Error${status}`] = { description: `An error body; codes with this status: ${codes.join(", ")} (docs/errors.md)`, content: { "application/json": { schema: ref("ErrorBody") } } };
  }
  return out;
}
const errorResponse = (status: number) => ({ $ref: `#/components/responses/Error${status}` });

const STATUS_TEXT: Record<number, string> = { 200: "OK", 201: "Created", 202: "Accepted: the operation is still running (wait=false)" };

/**
 * The protocol as an OpenAPI 3.1 document, generated from the contract and
 * the zod schemas: served at GET /v1/openapi.json and committed as
 * docs/openapi.json. Deterministic: no daemon version or time in it.
 */
export function openApiDocument(): OpenApi {
  const names = exportedNames();
  const inputs = new Set<z.ZodType>();
  for (const name of ROUTE_NAMES) {
    const def: RouteDef = contract[name];
    for (const part of [def.params, def.query, def.body]) if (part) inputs.add(part);
  }
  for (const ws of Object.values(websockets) as WebSocketDef[]) for (const part of [ws.params, ws.query]) if (part) inputs.add(part);
  const outputRegistry = z.registry<{ id: string }>();
  const inputRegistry = z.registry<{ id: string }>();
  for (const [schema, id] of names) {
    if (inputs.has(schema)) {
      if (isComponent(schema) && !id.endsWith("Params") && !id.endsWith("Query")) inputRegistry.add(schema, { id });
    } else if (isComponent(schema)) outputRegistry.add(schema, { id });
  }
  const schemaOf = (s: z.ZodType, io: "input" | "output") => {
    const id = names.get(s);
    return id && (io === "input" ? inputRegistry : outputRegistry).has(s) ? ref(id) : inline(s, io);
  };

  const paths: Record<string, Record<string, Json>> = {};
  for (const name of ROUTE_NAMES) {
    const def: RouteDef = contract[name];
    const responses: Record<string, Json> = {};
    for (const [status, schema] of Object.entries(def.responses)) {
      if (!schema) continue;
      const code = Number(status);
      responses[status] =
        code >= 400 ? errorResponse(code) : { description: STATUS_TEXT[code] ?? "Success", content: { [def.contentType ?? "application/json"]: { schema: schemaOf(schema, "output") } } };
    }
    const op: Json = {
      operationId: name,
      summary: def.summary,
      tags: [tagOf(def.path)],
      "x-umld-access": routeScopes[name].access,
    };
    const params = [...parameters(def.params, "path"), ...parameters(def.query, "query")];
    if (params.length) op.parameters = params;
    if (def.body) op.requestBody = { required: true, content: { "application/json": { schema: schemaOf(def.body, "input") } } };
    op.responses = responses;
    (paths[openApiPath(def)] ??= {})[def.method.toLowerCase()] = op;
  }
  for (const [name, ws] of Object.entries(websockets) as Array<[string, WebSocketDef]>) {
    const responses: Record<string, Json> = {
      "101": {
        description: `Switching Protocols: a WebSocket; ${ws.messages}`,
        ...(ws.message ? { "x-umld-message": schemaOf(ws.message, "output") } : {}),
      },
    };
    for (const status of ws.errors) responses[String(status)] = errorResponse(status);
    const params = [...parameters(ws.params, "path"), ...parameters(ws.query, "query")];
    (paths[openApiPath(ws)] ??= {}).get = {
      operationId: `${name}WebSocket`,
      summary: `WebSocket: ${ws.summary}`,
      description: "A GET with `Connection: Upgrade` and `Upgrade: websocket`; a refused upgrade is a plain HTTP answer with the JSON error body.",
      tags: [tagOf(ws.path) === "events" ? "events" : "instances"],
      "x-umld-access": ws.access,
      "x-umld-websocket": true,
      ...(params.length ? { parameters: params } : {}),
      responses,
    };
  }

  return {
    openapi: "3.1.0",
    info: {
      title: "umld control protocol",
      version: String(version.PROTOCOL_VERSION),
      description: "JSON over HTTP and WebSocket. Generated from protocol/ (zod); see docs/protocol.md. Capabilities are served by GET /v1/version.",
      license: { name: "MIT", identifier: "MIT" },
    },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    servers: [{ url: "/", description: "the daemon: its unix socket (no token) or its TCP listener (bearer token)" }],
    security: [{ bearer: [] }],
    tags: [...new Set(Object.values(paths).flatMap((p) => Object.values(p).flatMap((o) => o.tags as string[])))].sort().map((t) => ({ name: t })),
    paths,
    components: {
      schemas: { ...convert(outputRegistry, "output"), ...convert(inputRegistry, "input") },
      responses: errorResponses(),
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "An admin token (STATE_DIR/admin.token) or a tenant token (umld_<id>_<secret>); the unix socket needs none." },
      },
    },
  };
}
