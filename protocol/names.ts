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
 * Kernel boot options a request may set: an allow-list of exact keys, each
 * with the values it takes. UML parses its own options by prefix (`ubd`
 * matches ubdb=, ubd1r=, ubd01=...; `eth`, `vec`, `con`, `ssl` likewise) and
 * many of them name host files, sockets, ports or devices, so a deny-list can
 * never be complete; none of these keys is a prefix UML acts on, and none
 * takes a path or a host resource. Devices go through the device APIs.
 * Why each is safe is in docs/security.md.
 */
export const BOOT_OPTIONS: Readonly<Record<string, { values: RegExp | null; doc: string }>> = {
  quiet: { values: null, doc: "fewer kernel messages" },
  loglevel: { values: /^[0-8]$/, doc: "console log level 0-8" },
  panic: { values: /^-?\d{1,6}$/, doc: "seconds before a panicked guest reboots (0: halt)" },
  "printk.time": { values: /^[01yYnN]$/, doc: "timestamps on kernel messages" },
  lpj: { values: /^\d{1,12}$/, doc: "loops per jiffy (skips the delay-loop calibration)" },
  "pty.legacy_count": { values: /^\d{1,4}$/, doc: "legacy ptys (0 saves boot time and memory)" },
  initcall_blacklist: { values: /^[a-z0-9_]{1,64}(,[a-z0-9_]{1,64}){0,15}$/, doc: "kernel init functions to skip, e.g. raid6_select_algo" },
  "ipv6.disable": { values: /^[01]$/, doc: "no IPv6 in the guest" },
  audit: { values: /^[01]$/, doc: "the guest's audit subsystem" },
  selinux: { values: /^[01]$/, doc: "the guest's SELinux" },
  apparmor: { values: /^[01]$/, doc: "the guest's AppArmor" },
  hung_task_panic: { values: /^[01]$/, doc: "panic the guest on a hung task" },
  "random.trust_cpu": { values: /^(on|off)$/, doc: "trust the CPU's random numbers" },
  transparent_hugepage: { values: /^(always|madvise|never)$/, doc: "the guest's THP policy" },
  "systemd.unit": { values: /^[A-Za-z0-9_.@-]{1,100}$/, doc: "the unit a systemd guest boots into (e.g. rescue.target)" },
  "systemd.log_level": { values: /^(emerg|alert|crit|err|warning|notice|info|debug|[0-7])$/, doc: "systemd's log level" },
  "systemd.show_status": { values: /^(yes|no|auto|error|true|false|[01])$/, doc: "systemd's boot status lines" },
  single: { values: null, doc: "single-user mode (sysvinit)" },
  rescue: { values: null, doc: "rescue mode (systemd)" },
  emergency: { values: null, doc: "emergency mode (systemd)" },
};

/** Why a boot option is refused, or null when it is allowed. */
export function bootOptionProblem(option: string): string | null {
  const eq = option.indexOf("=");
  const key = eq < 0 ? option : option.slice(0, eq);
  const rule = Object.hasOwn(BOOT_OPTIONS, key) ? BOOT_OPTIONS[key] : undefined;
  if (!rule) {
    return `boot option '${key.slice(0, 40)}' is not allowed: only ${Object.keys(BOOT_OPTIONS).join(", ")}; devices, consoles and host resources go through the device APIs`;
  }
  if (rule.values === null) return eq < 0 ? null : `boot option '${key}' takes no value`;
  if (eq < 0 || !rule.values.test(option.slice(eq + 1))) return `boot option '${key}' needs a value matching ${rule.values.source}`;
  return null;
}

/** One extra kernel boot option from the allow-list above: `key` or `key=value`. */
export const BootOption = z
  .string()
  .min(1)
  .max(200)
  .superRefine((s, ctx) => {
    const problem = bootOptionProblem(s);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });
