import { z } from "zod";

/**
 * Names reach host paths, kernel command lines and hostnames: an allow-list,
 * a valid RFC 1123 label (lowercase letters, digits, inner hyphens, 1-63 chars).
 */
const LABEL = "[a-z0-9]([a-z0-9-]*[a-z0-9])?";

export const Name = z
  .string()
  .min(1)
  .max(63)
  .regex(new RegExp(`^${LABEL}$`), "lowercase letters, digits and inner hyphens, 1-63 characters");

/**
 * A name in a path that may be a tenant's object as admins see it:
 * `<tenant>.<name>`. Tenants send plain names (the prefix is theirs, added by
 * umld); the dot cannot appear in a Name, so no tenant can name another's.
 */
export const OwnedName = z
  .string()
  .min(1)
  .max(127)
  .regex(new RegExp(`^(${LABEL}\\.)?${LABEL}$`), "a name, or <tenant>.<name>");

/**
 * One extra kernel boot option: `key` or `key=value`, printable ASCII with no
 * spaces, quotes or commas, so it stays one option on the UML command line.
 * Options that would take over what the daemon controls are refused.
 */
export const BootOption = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9_.][A-Za-z0-9_.\-]*(=[A-Za-z0-9_.:/+\-]*)?$/, "key or key=value with [A-Za-z0-9_.:/+-] only")
  .refine((s) => !RESERVED_BOOT_KEYS.has(s.split("=")[0]!), {
    message: "this option is managed by umld and cannot be overridden",
  });

export const RESERVED_BOOT_KEYS = new Set([
  "umid", "uml_dir", "mem", "root", "rootfstype", "rootflags", "init", "con", "ssl", "mconsole",
  "hostfs", "initrd", "iomem", "xterm", "umld.hostname", "noreboot",
  ...Array.from({ length: 16 }, (_, i) => `ubd${i}`),
  ...Array.from({ length: 16 }, (_, i) => `con${i}`),
  ...Array.from({ length: 16 }, (_, i) => `eth${i}`),
]);
