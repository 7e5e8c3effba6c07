import { TENANT_SEPARATOR } from "../tenants/principal.js";

export { ownerOfName } from "../tenants/principal.js";

/** A Name (RFC 1123 label) is at most 63 characters: the part of a stored name after the tenant prefix. */
export const NAME_MAX = 63;
/** What a derived base name keeps, leaving room for a `-N` suffix. */
const BASE_MAX = 55;

/**
 * A stored name for an image umld derives (snapshot, clone base, merge):
 * `<owner>.<base>` (or `<base>` for the admin), the base shortened to fit a
 * Name with room for `-N`, never the prefix; `-2`, `-3`... while `taken`.
 */
export function derivedImageName(owner: string | null, base: string, taken: (stored: string) => boolean): string {
  const b = base.slice(0, BASE_MAX).replace(/-+$/, "");
  const prefix = owner === null ? "" : owner + TENANT_SEPARATOR;
  if (!taken(prefix + b)) return prefix + b;
  for (let i = 2; ; i++) if (!taken(`${prefix}${b}-${i}`)) return `${prefix}${b}-${i}`;
}
