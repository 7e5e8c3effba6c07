import { contract, ROUTE_NAMES, type RouteDef, type RouteName } from "./contract.js";
import { API_PREFIX } from "./version.js";

/** Where a route is served: under /v1, or at its own path (unversioned routes such as GET /metrics). */
export function routePath(def: Pick<RouteDef, "path" | "unversioned">): string {
  return def.unversioned ? def.path : API_PREFIX + def.path;
}

/** The route a method and a concrete path (without a query) belong to, with its path parameters; null: no such endpoint. */
export function matchRoute(method: string, path: string): { name: RouteName; def: RouteDef; params: Record<string, string> } | null {
  for (const name of ROUTE_NAMES) {
    const def: RouteDef = contract[name];
    if (def.method !== method) continue;
    const params = matchPath(routePath(def), path);
    if (params) return { name, def, params };
  }
  return null;
}

/** Path parameters of `path` under the full template `template` (with /v1 when versioned), or null when it does not match. */
export function matchPath(template: string, path: string): Record<string, string> | null {
  const want = template.split("/");
  const got = path.split("/");
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    if (w.startsWith(":")) {
      if (g === "") return null;
      try {
        params[w.slice(1)] = decodeURIComponent(g);
      } catch {
        return null;
      }
    } else if (w !== g) return null;
  }
  return params;
}

/** A concrete path (with /v1) from a template relative to /v1 and its parameters. */
export function fillPath(template: string, params: Readonly<Record<string, string>> = {}): string {
  return API_PREFIX + fill(template, params);
}

/** A route's concrete path from its parameters. */
export function fillRoute(def: Pick<RouteDef, "path" | "unversioned">, params: Readonly<Record<string, string>> = {}): string {
  return def.unversioned ? fill(def.path, params) : fillPath(def.path, params);
}

function fill(template: string, params: Readonly<Record<string, string>>): string {
  return template.replace(/:(\w+)/g, (_, k: string) => encodeURIComponent(params[k] ?? ""));
}
