import type { InstanceAction } from "../../protocol/instances.js";

/** What a new instance is made of (the `instance.create` command, and a clone's instance). */
export interface CreateInstance {
  name: string;
  memoryMiB: number;
  maxMemoryMiB?: number;
  diskQuotaMiB?: number;
  memoryReclaim?: "off" | "auto";
  limits?: LimitsInput;
  policy?: PolicyInput;
  image?: string;
  kernel?: string;
  bootOptions?: string[];
}

/** How an instance action is run (a command's options; restart policies add byPolicy). */
export interface ActOptions {
  timeoutS?: number;
  wait: boolean;
  /** a restart by a policy keeps the crash streak and flag */
  byPolicy?: boolean;
  /** upgrade only */
  kernel?: string;
  deadlineS?: number;
}

/** Resource limits as the protocol names them (create and PATCH); null lifts one. */
export interface LimitsInput {
  cpus?: number | null;
  cpuWeight?: number | null;
  ioWeight?: number | null;
  pids?: number | null;
  netMbit?: number | null;
}

/** Policy fields as the protocol names them (create and PATCH). */
export interface PolicyInput {
  autostart?: boolean;
  autostartOrder?: number;
  autostartDelayS?: number;
  restartPolicy?: "never" | "on-failure" | "always";
  hangTimeoutS?: number;
  onHang?: "report" | "reset";
}

/** Default time each action may take before its operation fails with action_timeout. */
export const DEFAULT_ACTION_TIMEOUT_S: Record<InstanceAction, number> = {
  start: 60,
  shutdown: 30,
  halt: 15,
  reboot: 60,
  pause: 10,
  resume: 10,
  upgrade: 120,
};

/** Seconds a new kernel has to bring the guest up before it is rolled back. */
export const DEFAULT_UPGRADE_DEADLINE_S = 30;
