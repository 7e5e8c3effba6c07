/**
 * Why a guest's UML process ended, from what the supervisor saw. Pure: the
 * supervisor worker gathers the facts, this decides `stopped` or `crashed`.
 */

/** The kernel's last line when it halts or powers off (kernel/reboot.c prints it at KERN_EMERG, so `quiet` keeps it). */
const HALTED = /(?:^|\n)reboot: (?:System halted|Power down)\r?\n/;

/** How much of a boot's last console output is kept to look for that line. */
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
  // Under host load UML 6.1 now and then faults after the guest's kernel has halted (a stack walk off the top of
  // the host stack in its teardown) and dies of SIGABRT with a panic: the guest did power off. A deliberate
  // non-zero status (/proc/exitcode) is the guest's own word and stays a crash.
  if (f.code === null && HALTED.test(f.consoleTail)) return { reason: "guest powered off", requested: true, diedAfterHalt: f.signal !== null || f.panicMessage !== null };
  if (f.panicMessage) return { reason: `kernel panic: ${f.panicMessage}`, requested: false };
  if (f.signal) return { reason: `killed by ${f.signal}`, requested: false };
  if (f.code === null) return { reason: "process ended (exit status unknown: adopted after a daemon restart)", requested: false };
  return { reason: `exited with status ${f.code}`, requested: false };
}
