import type { Ctx } from "../context.js";

/** What a command's NAME argument is, for shell completion. */
export type Completes = "instance" | "network" | "tenant" | "image" | "kernel" | "disk";

/**
 * One umlctl command, as data: its help, the flags and subcommands it takes
 * and what its arguments name. The help text and the shell completion
 * scripts are generated from these, so they never drift from what runs.
 */
export interface CommandSpec {
  name: string;
  /** subcommands (the first argument) */
  subs?: readonly string[];
  /** help lines: the first one the synopsis */
  help: readonly string[];
  /** flags (without --) beyond the global ones */
  flags?: readonly string[];
  /** what the argument after the command (or after its subcommand) names */
  completes?: Completes;
  /** a list command: takes --format, -c and --no-headers */
  lists?: true;
  run(x: Ctx): Promise<void>;
}
