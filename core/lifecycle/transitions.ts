import type { InstanceState } from "../../protocol/instances.js";
import { UmldError } from "../errors.js";

/**
 * Lifecycle events: the six API actions plus what the supervisor observes.
 *   booted       UML's notify SOCKET message: the kernel is up and manageable
 *   guest_reboot the kernel came up again without being asked (reboot inside the guest)
 *   exited       the process ended cleanly (asked for, or the guest powered off)
 *   crashed      the process ended badly (panic, signal, non-zero exit) without being asked
 */
export const LIFECYCLE_EVENTS = ["start", "shutdown", "halt", "reboot", "pause", "resume", "booted", "guest_reboot", "exited", "crashed"] as const;
export type LifecycleEvent = (typeof LIFECYCLE_EVENTS)[number];

/** from × event → to. A missing entry means the event is not valid in that state. */
export const TRANSITIONS: Readonly<Record<InstanceState, Partial<Record<LifecycleEvent, InstanceState>>>> = {
  stopped: { start: "starting" },
  crashed: { start: "starting" },
  starting: { booted: "running", shutdown: "stopping", halt: "stopping", exited: "stopped", crashed: "crashed" },
  running: {
    shutdown: "stopping",
    halt: "stopping",
    reboot: "starting",
    pause: "paused",
    guest_reboot: "running",
    exited: "stopped",
    crashed: "crashed",
  },
  paused: { resume: "running", shutdown: "stopping", halt: "stopping", reboot: "starting", exited: "stopped", crashed: "crashed" },
  stopping: { halt: "stopping", exited: "stopped", crashed: "crashed", guest_reboot: "stopping" },
};

export function canTransition(from: InstanceState, event: LifecycleEvent): boolean {
  return TRANSITIONS[from][event] !== undefined;
}

/** The next state, or an `invalid_state` error naming the state and the event. */
export function transition(from: InstanceState, event: LifecycleEvent): InstanceState {
  const to = TRANSITIONS[from][event];
  if (to === undefined) {
    throw new UmldError("invalid_state", `cannot ${event} an instance that is ${from}`, { state: from, action: event });
  }
  return to;
}

/** States in which a guest process may exist. */
export function isActive(state: InstanceState): boolean {
  return state !== "stopped" && state !== "crashed";
}
