import type { Logger } from "pino";
import type { z } from "zod";
import type { GuestFacts, MconsoleRequest } from "../../protocol/guest.js";
import { UmldError } from "../errors.js";
import { parseLoadavg, parseMeminfo, parseUptime } from "../guest/proc-parse.js";

/** Sends one mconsole command to one guest. */
export type Ask = (command: string, timeoutMs?: number) => Promise<string>;

/**
 * Admin mconsole passthrough: only what cannot bypass umld's bookkeeping or
 * (knowingly) crash the guest. halt/reboot/stop/go are not in the protocol's
 * enum at all; device changes go through the memory, disks and consoles APIs.
 */
export async function passthrough(ask: Ask, req: z.output<typeof MconsoleRequest>, log: Logger): Promise<{ command: string; reply: string }> {
  const refuse = (message: string, use?: string): never => {
    throw new UmldError("mconsole_refused", message, { command: req.command, args: req.args, ...(use ? { use } : {}) });
  };
  const a = req.args.trim();
  switch (req.command) {
    case "config":
      if (a.includes("=")) refuse("config with '=' changes devices behind umld's back", "PATCH memoryMiB, the disks API or the consoles API");
      if (!/^[a-z]+\d*$/.test(a)) refuse("config takes a device name such as ubd1, mem or ssl0");
      break;
    case "sysrq":
      if (!/^[0-9a-zA-Z]$/.test(a)) refuse("sysrq takes one key, e.g. 'm' or 's'");
      if (!req.force && (a === "t" || a === "c")) {
        refuse(a === "t" ? "sysrq t panics the Debian 6.1 UML guest kernel; pass force=true to do it anyway" : "sysrq c crashes the guest on purpose; pass force=true");
      }
      break;
    case "proc":
      if (!/^[A-Za-z0-9_][A-Za-z0-9_./-]*$/.test(a) || a.split("/").includes("..")) refuse("proc takes a path relative to the guest's /proc, e.g. meminfo");
      break;
    case "stack":
      if (!/^\d+$/.test(a)) refuse("stack takes a guest pid");
      break;
    case "log":
      if (!a) refuse("log takes the text to write into the guest kernel log");
      break;
    default:
      if (a) refuse(`${req.command} takes no arguments`);
  }
  const command = a ? `${req.command} ${req.command === "log" ? req.args : a}` : req.command;
  const reply = await ask(command, 15_000);
  log.info({ command: req.command, args: a.slice(0, 80) }, "mconsole passthrough");
  return { command, reply };
}

/** Uptime, load and memory read from the guest kernel's /proc through mconsole: no agent in the guest. */
export async function guestFacts(ask: Ask): Promise<GuestFacts> {
  const version = await ask("proc version");
  const hostname = await ask("proc sys/kernel/hostname");
  const uptime = parseUptime(await ask("proc uptime"));
  const load = parseLoadavg(await ask("proc loadavg"));
  const m = parseMeminfo(await ask("proc meminfo"));
  return {
    kernelVersion: version.trim(),
    hostname: hostname.trim(),
    uptimeS: uptime.uptimeS,
    idleS: uptime.idleS,
    load,
    memTotalKiB: m.MemTotal ?? 0,
    memFreeKiB: m.MemFree ?? 0,
    memAvailableKiB: m.MemAvailable ?? null,
  };
}
