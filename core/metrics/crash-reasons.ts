/**
 * Crash reasons grouped for metrics: the reason text names pids, statuses and
 * panic messages, far too many label values for Prometheus.
 */
export const CRASH_CLASSES = ["panic", "signal", "exit-status", "ended-unknown", "while-daemon-down", "supervisor", "other"] as const;
export type CrashClass = (typeof CRASH_CLASSES)[number];

/** The class of a `crashed` transition's reason (core/supervisor/exit-reason.ts and adoption write them). */
export function crashClass(reason: string): CrashClass {
  if (reason.startsWith("kernel panic")) return "panic";
  if (reason.startsWith("killed by SIG")) return "signal";
  if (reason.startsWith("exited with status")) return "exit-status";
  if (reason.startsWith("exited while daemon was down")) return "while-daemon-down";
  if (reason.startsWith("process ended (exit status unknown")) return "ended-unknown";
  if (/supervisor|worker/i.test(reason)) return "supervisor";
  return "other";
}
