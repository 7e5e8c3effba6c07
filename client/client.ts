import { fillRoute } from "../protocol/paths.js";
import { contract, type BodyIn, type ParamsIn, type QueryIn, type ResponseOf, type RouteDef, type RouteName } from "../protocol/contract.js";
import { ErrorBody } from "../protocol/errors.js";
import { ApiError, ProtocolError } from "./errors.js";
import type { Transport } from "./transport.js";

/** What a call to route N takes: its path params, query and body as the contract types them (before defaults). */
export type Args<N extends RouteName> = (ParamsIn<N> extends undefined ? unknown : { params: ParamsIn<N> }) &
  (QueryIn<N> extends undefined ? unknown : { query?: QueryIn<N> }) &
  (BodyIn<N> extends undefined ? unknown : { body: BodyIn<N> });
/** Routes without params or body may be called with no arguments. */
export type ArgList<N extends RouteName> = object extends Args<N> ? [args?: Args<N>] : [args: Args<N>];

export interface ClientOptions {
  transport: Transport;
  /** bearer token (TCP); none on the unix socket */
  token?: string | null;
  /** an admin acting for this tenant (header Umld-Tenant) */
  tenant?: string;
}

/** A checked answer: the body parsed by the schema of its status, or why it breaks the contract. */
export type Checked =
  | { ok: true; error: false; status: number; body: unknown }
  | { ok: true; error: true; status: number; body: ErrorBody }
  | { ok: false; status: number; problem: string; issues: Array<{ path: string; message: string }> };

/** Checks an answer of a route against the contract: its status must be one the route declares, its body that status's schema. */
export function checkAnswer(def: RouteDef, status: number, body: unknown): Checked {
  const schema = def.responses[status];
  if (!schema) return { ok: false, status, problem: `status ${status} is not an answer of ${def.method} ${def.path} (declared: ${Object.keys(def.responses).join(", ")})`, issues: [] };
  const r = schema.safeParse(body);
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message }));
    return { ok: false, status, problem: `the ${status} answer of ${def.method} ${def.path} does not match its schema`, issues };
  }
  if (status >= 400) {
    const e = ErrorBody.safeParse(r.data);
    if (!e.success) return { ok: false, status, problem: "an error answer without an error body", issues: [] };
    return { ok: true, error: true, status, body: e.data };
  }
  return { ok: true, error: false, status, body: r.data };
}

/** A query string from plain values (strings, numbers, booleans); undefined values are left out. */
function queryString(query: unknown): string {
  if (typeof query !== "object" || query === null) return "";
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null) continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  }
  return parts.length ? `?${parts.join("&")}` : "";
}

function part(args: unknown, key: "params" | "query" | "body"): unknown {
  return typeof args === "object" && args !== null ? Object.entries(args).find(([k]) => k === key)?.[1] : undefined;
}

/**
 * A client typed from protocol/contract.ts, the table the daemon registers
 * its routes from: request params, query and body as the contract takes
 * them; answers parsed by the route's response schemas; refusals thrown as
 * ApiError with the registry's code. The transport is injected, so the same
 * client runs over fetch (browsers, HTTP/HTTPS) or a unix socket (umlctl).
 */
export class UmldClient {
  constructor(readonly options: ClientOptions) {}

  /** Calls route `name`; resolves with its success answer, rejects with ApiError (refused) or ProtocolError (an answer outside the contract). */
  async call<N extends RouteName>(name: N, ...args: ArgList<N>): Promise<ResponseOf<N>> {
    return (await this.request(name, ...args)).body;
  }

  /** Like call, with the status (e.g. 202 for an operation still running). */
  async request<N extends RouteName>(name: N, ...[args]: ArgList<N>): Promise<{ status: number; body: ResponseOf<N> }> {
    const def: RouteDef = contract[name];
    const params = part(args, "params");
    const body = part(args, "body");
    const path = fillRoute(def, typeof params === "object" && params !== null ? Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])) : {}) + queryString(part(args, "query"));
    const headers: Record<string, string> = { accept: def.contentType ? `${def.contentType.split(";")[0]}, application/json` : "application/json" };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    if (this.options.tenant) headers["umld-tenant"] = this.options.tenant;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await this.options.transport({ method: def.method, path, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    let json: unknown;
    if (def.contentType && res.status < 400)
      json = res.text; // a text answer (GET /metrics); refusals are still JSON
    else {
      try {
        json = res.text ? JSON.parse(res.text) : null;
      } catch {
        throw new ProtocolError(`daemon answered ${res.status} with non-JSON: ${res.text.slice(0, 200)}`, res.status);
      }
    }
    const checked = checkAnswer(def, res.status, json);
    if (!checked.ok) {
      // an error body is still worth its code even when the route did not declare that status
      const e = ErrorBody.safeParse(json);
      if (res.status >= 400 && e.success) throw new ApiError(res.status, e.data.error.code, e.data.error.message, e.data.error.details);
      throw new ProtocolError(checked.problem, res.status, checked.issues);
    }
    if (checked.error) throw new ApiError(res.status, checked.body.error.code, checked.body.error.message, checked.body.error.details);
    // checked.body was parsed by contract[name]'s schema for this success status: it is that route's answer
    return { status: res.status, body: checked.body as ResponseOf<N> };
  }
}
