import { MconsoleError } from "../uml/mconsole/client.js";
import type { Reply, SupervisedAction } from "./rpc.js";

/** What the actions change of the guest's state, shared with the supervisor (which reads it when the process ends). */
export interface GuestState {
  /** frozen with mconsole `stop` */
  paused: boolean;
  /** the reason, when umld asked the guest to stop: it wins over everything else */
  stopRequested: string | null;
  /** umld sent mconsole `reboot`: the process is started again however it ends */
  rebootRequested: boolean;
}

/** What the actions need of the guest's current process. */
export interface ActionGuest {
  mc(command: string, timeoutMs?: number): Promise<string>;
  waitExit(ms: number): Promise<boolean>;
  /** to the whole process group; false when there is none */
  signalGroup(sig: NodeJS.Signals): boolean;
  /** mconsole `reboot` was taken (or timed out): the process must now end (it is killed if it does not) */
  rebootSent(): void;
  warn(msg: string, fields: Record<string, unknown>): void;
}

/** The five lifecycle actions a supervisor carries out (start is a spawn, not an action). */
export async function runAction(s: GuestState, g: ActionGuest, action: SupervisedAction, timeoutMs: number): Promise<Reply<"action">> {
  switch (action) {
    case "shutdown":
      return { graceful: await shutdown(s, g, timeoutMs) };
    case "halt":
      await hardStop(s, g, "halted", 5000);
      return {};
    case "reboot":
      await ensureRunningForStop(s, g);
      s.rebootRequested = true;
      try {
        await g.mc("reboot");
      } catch (e) {
        // a timeout may be a reboot under way, or a stuck kernel: either way it ends within the deadline and starts again
        if (e instanceof MconsoleError && e.kind === "timeout") g.rebootSent();
        else s.rebootRequested = false; // not sent
        throw e;
      }
      g.rebootSent();
      return {};
    case "pause":
      await g.mc("stop");
      s.paused = true;
      return {};
    case "resume":
      await g.mc("go");
      s.paused = false;
      return {};
  }
}

/** ctrl-alt-del (the default image's init powers off), then a halt after the timeout. True when the guest went by itself. */
async function shutdown(s: GuestState, g: ActionGuest, timeoutMs: number): Promise<boolean> {
  s.stopRequested = "shut down";
  let graceful = false;
  try {
    await ensureRunningForStop(s, g);
    await g.mc("cad");
    graceful = await g.waitExit(timeoutMs);
  } catch (e) {
    g.warn("graceful shutdown not possible, halting", { error: (e as Error).message });
  }
  if (!graceful) {
    s.stopRequested = "shut down (halted after timeout)";
    await hardStop(s, g, s.stopRequested, 5000);
  }
  return graceful;
}

/** `halt`/`reboot`/`cad` are never sent to a paused guest: `go` first. */
async function ensureRunningForStop(s: GuestState, g: ActionGuest): Promise<void> {
  if (s.paused) {
    await g.mc("go");
    s.paused = false;
  }
}

/** Hard stop, escalating: mconsole halt, SIGTERM, then SIGKILL to the whole group. */
async function hardStop(s: GuestState, g: ActionGuest, reason: string, budgetMs: number): Promise<void> {
  s.stopRequested ??= reason;
  try {
    await ensureRunningForStop(s, g);
    await g.mc("halt", Math.min(1000, budgetMs));
    if (await g.waitExit(Math.min(2000, budgetMs))) return;
  } catch {
    // mconsole not there or not answering: signals next
  }
  if (g.signalGroup("SIGTERM") && (await g.waitExit(Math.min(2000, budgetMs)))) return;
  g.signalGroup("SIGKILL");
  await g.waitExit(2000);
}
