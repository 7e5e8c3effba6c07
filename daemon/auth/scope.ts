import type { RouteScope } from "../../protocol/routes.js";
import { authorize, prefixOf, type Principal } from "../../core/tenants/principal.js";

/**
 * A tenant's view of umld. Its objects are stored as `<tenant>.<name>`;
 * tenants send and see `<name>`. Names of other tenants never resolve (a
 * tenant name cannot hold the separator), so another tenant's object is
 * exactly as absent as one that does not exist: same 404, same message.
 * Admins without a tenant see the stored names; an admin acting for a
 * tenant (header `Umld-Tenant`) gets the tenant's view without its limits.
 */
export class Scope {
  readonly prefix: string | null;

  constructor(readonly principal: Principal) {
    this.prefix = principal.tenant ? prefixOf(principal.tenant) : null;
  }

  /** 403 unless the principal may use a route with this access (and, for state changes, this action). */
  authorize(scope: RouteScope, stateAction?: string): void {
    authorize(this.principal, scope.access, stateAction);
  }

  qualify(name: string): string {
    return this.prefix ? this.prefix + name : name;
  }

  /** For list answers: does this principal see an object of this stored name? */
  sees(stored: string): boolean {
    return this.prefix === null || stored.startsWith(this.prefix);
  }

  /** Images go by their owner, not their name: the tenant's own and the shared catalogue. */
  seesImage(image: { owner: string | null; shared: boolean }): boolean {
    return this.principal.tenant === null || image.shared || image.owner === this.principal.tenant;
  }

  /** Rewrites stored names in an answer (any string, also inside error messages) into the tenant's names. */
  present<T>(value: T): T {
    const prefix = this.prefix;
    if (prefix === null) return value;
    const re = new RegExp(`(^|[^a-z0-9.-])${prefix.replace(".", "\\.")}(?=[a-z0-9])`, "g");
    const walk = (v: unknown): unknown => {
      if (typeof v === "string") return v.replace(re, "$1");
      if (Array.isArray(v)) return v.map(walk);
      if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
      return v;
    };
    return walk(value) as T;
  }

  /** An event for this principal (stored names), or null when it is about someone else's object. */
  event(e: Record<string, unknown>): Record<string, unknown> | null {
    if (this.prefix === null) return e;
    const subject = typeof e.instance === "string" ? e.instance : (e.operation as { target?: unknown } | undefined)?.target;
    if (typeof subject !== "string" || !subject.startsWith(this.prefix)) return null;
    return this.present(e);
  }
}
