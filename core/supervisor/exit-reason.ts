/**
 * Why a guest's UML process ended, from what the supervisor saw. Pure: the
 * supervisor gathers the facts, this decides `stopped`, `crashed`, or a
 * reboot (guests boot with `noreboot`: a reboot ends the process, with status
 * 0, and the supervisor starts a fresh one).
 */

/**
 * The kernel's last line when it halts, powers off or restarts (kernel/reboot.c prints it at KERN_EMERG, so
 * `quiet` keeps it); sysrq b restarts without it, after the sysrq handler's own line, followed by a long
 * warning (UML frees an IRQ from IRQ context while restarting). A halt line counts at the start of a line only
 * (init's shutdown messages precede it; a typed `echo` of it does not halt anything). A restart line may
 * follow a prompt on the same line: ctrl-alt-del the kernel handles itself and sysrq b come with no message
 * before them. Taking a guest's own text for one only restarts that guest.
 */
const END_LINE = /(?:(?<=\n)(reboot: (?:System halted|Power down))|(reboot: Restarting system(?: with command '[^'\n]*')?|sysrq: Resetting))\r?\n/g;
const CARRY = 64;

/**
 * Follows a boot's console output for the last of those lines, however far
 * back it is by the time the process ends. Pure: it is fed the text.
 */
export class EndLineTracker {
  private carry = "\n";
  private found: "halt" | "restart" | null = null;

  push(text: string): void {
    const all = this.carry + text;
    for (const m of all.matchAll(END_LINE)) this.found = m[2] !== undefined ? "restart" : "halt";
    this.carry = all.slice(-CARRY);
  }

  /** How the kernel said it ended: "halt", "restart", or null. */
  get last(): "halt" | "restart" | null {
    return this.found;
  }

  /** A new boot. */
  reset(): void {
    this.carry = "\n";
    this.found = null;
  }
}

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
  /** umld asked the guest to reboot (mconsole `reboot`): it is started again however its process ended. */
  rebootRequested?: boolean;
  /** UML's panic notification, if one came. */
  panicMessage: string | null;
  /** The end of this boot's console output (latin1). */
  consoleTail: string;
  /** The last halt or restart line of this boot's console, followed as it was written (else looked for in consoleTail). */
  endLine?: "halt" | "restart" | null;
}

export interface ExitReason {
  reason: string;
  /** Asked for, or the guest powered off or rebooted: `stopped` (or started again); otherwise `crashed`. */
  requested: boolean;
  /** The guest rebooted: the supervisor starts a fresh process with the same spec. */
  reboot?: boolean;
  /** Set when the guest had halted (or restarted) but UML then died in its own teardown (the evidence is kept in lastExit). */
  diedAfterHalt?: boolean;
}

/** How the kernel said it ended, by the last such line of a console text. */
export function endLine(consoleText: string): "halt" | "restart" | null {
  const t = new EndLineTracker();
  t.push(consoleText);
  return t.last;
}

export function classifyExit(f: ExitFacts): ExitReason {
  if (f.stopRequested) return { reason: f.stopRequested, requested: true };
  if (f.rebootRequested) return { reason: "reboot requested", requested: true, reboot: true };
  const end = f.endLine !== undefined ? f.endLine : endLine(f.consoleTail);
  if (f.code === 0) return end === "restart" ? { reason: "guest rebooted", requested: true, reboot: true } : { reason: "guest powered off", requested: true };
  // under load UML 6.1 now and then panics in its own teardown after the guest halted (docs/lifecycle.md); a set /proc/exitcode stays a crash
  if (f.code === null && end !== null) {
    const diedAfterHalt = f.signal !== null || f.panicMessage !== null;
    return end === "restart" ? { reason: "guest rebooted", requested: true, reboot: true, diedAfterHalt } : { reason: "guest powered off", requested: true, diedAfterHalt };
  }
  // the notification was once missing (a root-lock panic after a reboot, which then failed): panic() printed it on the console too
  const panic = f.panicMessage ?? (f.signal === "SIGABRT" ? ([...f.consoleTail.matchAll(PANIC_LINE)].pop()?.[1] ?? null) : null);
  if (panic) return { reason: `kernel panic: ${panic}`, requested: false };
  if (f.signal) return { reason: `killed by ${f.signal}`, requested: false };
  if (f.code === null) return { reason: "process ended (exit status unknown: adopted after a daemon restart)", requested: false };
  return { reason: `exited with status ${f.code}`, requested: false };
}
