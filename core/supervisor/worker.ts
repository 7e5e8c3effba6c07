/**
 * Supervisor worker: one per running instance, the entry point of its thread.
 * Only the message loop: each request kind has a handler whose argument and
 * reply types follow from rpc.ts; the guest itself is a Supervisor.
 */
import { parentPort } from "node:worker_threads";
import { UmldError, type PlainError } from "../errors.js";
import { MconsoleError } from "../uml/mconsole/client.js";
import type { Args, Call, Notice, Reply, ReplyOk, RequestKind, ToWorker, WorkerBootSpec, WorkerOutput } from "./rpc.js";
import { dropStandby, prepareStandby, type Standby } from "./standby.js";
import { Supervisor } from "./supervisor.js";

if (!parentPort) throw new Error("supervisor worker: not in a worker thread");
const port = parentPort;
const post = (m: WorkerOutput, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
const warn = (msg: string, fields: Record<string, unknown>) => post({ t: "log", level: "warn", msg, fields });

let supervisor: Supervisor | null = null;
/** a launcher spawned while this worker waits in the pool (see standby.ts) */
let standby: Standby | null = null;

function guest(): Supervisor {
  if (!supervisor) throw new UmldError("invalid_state", "this supervisor has no guest yet");
  return supervisor;
}

type Handlers = { [K in RequestKind]: (args: Args<K>) => Reply<K> | Promise<Reply<K>> };
const handlers: Handlers = {
  action: (a) => guest().action(a.action, a.timeoutMs),
  mconsole: (a) => guest().mconsoleCommand(a.command, a.timeoutMs),
  "console-in": (a) => guest().console.input(a.data),
  scrollback: () => guest().console.snapshot(),
  "channel-open": (a) => guest().channels.configure(a.channel),
  "channel-close": async (a) => {
    await guest().channels.close(a.channel);
    return null;
  },
  "channel-in": (a) => guest().channels.input(a.channel, a.data),
  "channel-scrollback": (a) => guest().channels.snapshot(a.channel),
  jail: (a) => guest().changeJail(a.change),
  detach: () => {
    // daemon going away: leave the guest running, release our ends (after this reply)
    setTimeout(() => (supervisor ? supervisor.close() : teardown()), 10);
    return null;
  },
};

async function answer<K extends RequestKind>(c: Call<K>): Promise<void> {
  try {
    const value = await handlers[c.kind](c.args);
    const reply: ReplyOk<K> = { t: "reply", id: c.id, kind: c.kind, value };
    port.postMessage(reply, transfersOf(value)); // checked above: generic in K, it is not yet the union WorkerOutput
  } catch (e) {
    post({ t: "failed", id: c.id, kind: c.kind, error: toPlain(e) });
  }
}

function onNotice(n: Notice): void {
  switch (n.kind) {
    case "standby":
      standby = prepareStandby(n.args.launcher, n.args.cgroups, warn);
      return;
    case "boot":
      return boot(n.args.spec);
    case "watchdog":
      supervisor?.setWatchdog(n.args.hangTimeoutMs);
      return;
    case "respawn":
      supervisor?.respawn(n.args.spec ?? n.args.error);
      return;
  }
}

function boot(spec: WorkerBootSpec): void {
  const s = standby;
  standby = null;
  let sv: Supervisor;
  try {
    sv = supervisor = new Supervisor(spec, { post, done: teardown });
    if (spec.adopt) {
      if (s) dropStandby(s);
      return sv.adopt(spec.adopt);
    }
  } catch (e) {
    return fatal(e, () => (supervisor ? supervisor.close() : teardown()));
  }
  sv.boot(s).catch((e) => fatal(e, () => sv.close()));
}

function fatal(e: unknown, close: () => void): void {
  post({ t: "fatal", error: toPlain(e) });
  setTimeout(close, 10);
}

/** The worker's own ends: a standby nobody took, then the port (the thread ends). */
function teardown(): void {
  if (standby) dropStandby(standby);
  standby = null;
  port.close();
}

function toPlain(e: unknown): PlainError {
  if (e instanceof UmldError) return e.toPlain();
  if (e instanceof MconsoleError) {
    const code = e.kind === "timeout" ? "action_timeout" : e.kind === "error" ? "mconsole_error" : "host_error";
    return { code, message: e.message, details: { command: e.command.split(" ")[0], err: e.err } };
  }
  const errno = typeof e === "object" && e !== null && "code" in e && typeof e.code === "string" ? e.code : undefined;
  return { code: "host_error", message: e instanceof Error ? e.message : String(e), details: errno ? { errno } : undefined };
}

/** A reply's console bytes travel transferred: only a buffer made for them alone (rpc.ts transferable), never a pooled one. */
function transfersOf(value: unknown): ArrayBuffer[] {
  if (typeof value !== "object" || value === null || !("data" in value) || !(value.data instanceof Uint8Array)) return [];
  const { buffer, byteOffset, byteLength } = value.data;
  return buffer instanceof ArrayBuffer && byteOffset === 0 && byteLength === buffer.byteLength ? [buffer] : [];
}

port.on("message", (m: ToWorker) => {
  if (m.t === "call") void answer(m);
  else onNotice(m);
});

post({ t: "idle" });
