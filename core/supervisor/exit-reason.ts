/**
 * Why a guest's UML process ended, from what the supervisor saw. Pure: the
 * supervisor worker gathers the facts, this decides `stopped` or `crashed`.
 */

/** The kernel's last line when it halts or powers off (kernel/reboot.c prints it at KERN_EMERG, so `quiet` keeps it). */
const HALTED = /(?:^|\n)reboot: (?:System halted|Power down)\r?\n/;

/** panic()'s own line; the stack dump after it is about 2 KiB. */
const PANIC_LINE = /(?:^|\n)Kernel panic - not syncing: ([^\r\n]*)/g;

/** How much of a boot's last console output is kept to look for these lines. */
export const CONSOLE_TAIL_BYTES = 4096;

export interface ExitFacts {
  /** Exit status; null when killed by a signal, or unknown (an adopted guest is not our child: both null). */
  code: number | null;
  signal: string | null;
  /** The reason, when umld asked the guest to stop. */
  stopRequested: string | null;
  /** UML's panic notification, if one came. */
  panicMessage: string | null;
  /** The end of this boot's console output (latin1). */
  consoleTail: string;
}

export interface ExitReason {
  reason: string;
  /** Asked for, or the guest powered off: `stopped`; otherwise `crashed`. */
  requested: boolean;
  /** Set when the guest had halted but UML then died in its own teardown (the evidence is kept in lastExit). */
  diedAfterHalt?: boolean;
}

export function classifyExit(f: ExitFacts): ExitReason {
  if (f.stopRequested) return { reason: f.stopRequested, requested: true };
  if (f.code === 0) return { reason: "guest powered off", requested: true };
  // under load UML 6.1 now and then panics in its own teardown after the guest halted (docs/lifecycle.md); a set /proc/exitcode stays a crash
  if (f.code === null && HALTED.test(f.consoleTail)) return { reason: "guest powered off", requested: true, diedAfterHalt: f.signal !== null || f.panicMessage !== null };
  // the notification was once missing (a root-lock panic after a reboot, which then failed): panic() printed it on the console too
  const panic = f.panicMessage ?? (f.signal === "SIGABRT" ? [...f.consoleTail.matchAll(PANIC_LINE)].pop()?.[1] ?? null : null);
  if (panic) return { reason: `kernel panic: ${panic}`, requested: false };
  if (f.signal) return { reason: `killed by ${f.signal}`, requested: false };
  if (f.code === null) return { reason: "process ended (exit status unknown: adopted after a daemon restart)", requested: false };
  return { reason: `exited with status ${f.code}`, requested: false };
}
