import type { InstanceAction } from "../../protocol/instances.js";

/**
 * The one command vocabulary. HTTP routes, WebSocket messages and the CLI
 * (through HTTP) translate into these; none of them touch UML directly.
 */
export type InstanceCommand =
  | { kind: "create"; name: string; memoryMiB: number; maxMemoryMiB?: number; diskQuotaMiB?: number; policy?: PolicyInput; image?: string; kernel?: string; bootOptions?: string[] }
  | { kind: "delete"; name: string; force: boolean }
  | { kind: "action"; name: string; action: InstanceAction; timeoutS?: number; wait: boolean; kernel?: string; deadlineS?: number; restart?: boolean };

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
