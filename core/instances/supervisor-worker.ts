/**
 * Supervisor worker: one per running instance. Entry point of a worker thread.
 *
 * INVARIANTS
 * - This worker alone drives its UML process: spawn, mconsole, signals. One
 *   lifecycle action runs at a time (the main thread's operation lock sends
 *   one; a second is refused here too).
 * - The guest is stopped only through mconsole, SIGTERM, or a signal to its
 *   whole process group (UML calls setsid(): pid == pgid). Never SIGKILL the
 *   main pid alone: guest processes would keep running on the host.
 * - `halt`/`reboot` are never sent while the guest is paused: `go` first.
 * - The console is carried on FIFOs that the UML process holds open read-write,
 *   so it never sees EOF or EPIPE, carries bulk output at pipe speed, and
 *   survives this worker (and the daemon) going away.
 * - Nothing here opens SQLite. Facts are posted to the main thread, which
 *   persists them; errors are posted as plain objects ({code, message}).
 * - The guest runs in its jail (core/jail/): its own uid, mount namespace and
 *   cgroup. Root here never follows a path the guest could change: the
 *   sockets are bound in a root-owned directory, the mconsole socket is
 *   reached component by component without following symlinks, and the path a
 *   guest announces is never used. Every process of the guest dies with it
 *   (its cgroup), and the cgroup is removed after it.
 */
import { execFile } from "node:child_process";
import { chownSync, closeSync, constants, fstatSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { Socket } from "node:net";
import { ReadStream as TtyReadStream } from "node:tty";
import { parentPort } from "node:worker_threads";
import { Scrollback } from "../console/scrollback.js";
import { readLogTail } from "../console/console-hub.js";
import type { PlainError } from "../errors.js";
import { native, type NativeDgramSocket } from "../native.js";
import { MconsoleClient, MconsoleError } from "../uml/mconsole/client.js";
import { decodeNotify, READY_CONSOLE_MARKER, READY_NOTIFY_TEXT } from "../uml/notify.js";
import { classifyExit, CONSOLE_TAIL_BYTES } from "./exit-reason.js";
import type { FromWorker, SupervisedAction, ToWorker, WorkerBootSpec } from "./worker-messages.js";
import { cpuUsageFile, createCgroup, killCgroup, parseCpuUsageNs, removeCgroup, renameCgroup, setLimits, type CgroupLayout } from "../jail/cgroups.js";
import { randomBytes } from "node:crypto";
import { enterArgv, type JailChange } from "../jail/jail-spec.js";
import { isGuestProcess, processesWithUmid } from "../host/procfs.js";
import { chownSocket, openJailSocket, type JailSocket } from "../host/guest-socket.js";

const port = parentPort!;
const CONSOLE_PIPE_BYTES = 1024 * 1024;
const post = (m: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer ?? []);
const log = (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) =>
  post({ t: "log", level, msg, fields });

let spec: WorkerBootSpec | null = null;
let pid = 0;
let notifySock: NativeDgramSocket | null = null;
let mconsole: MconsoleClient | null = null;
let consoleOut: Socket | null = null;
let consoleIn: Socket | null = null;
let logFd = -1;
let logBytes = 0;
let scrollback = new Scrollback(0);
let ready = false;
let paused = false;
let stopRequested: string | null = null; // the reason, when we asked the guest to stop
let panicMessage: string | null = null;
let bootStartedAt = 0;
let markerTail = "";
let consoleTail: Buffer = Buffer.alloc(0); // the end of this boot's console: how its kernel ended (see exit-reason.ts)
let busy: SupervisedAction | null = null;
let exitWaiters: Array<() => void> = [];
let exited = false;
/** started unjailed by an older umld: no cgroup, not its own uid */
let legacy = false;
/** the kernel announced itself at least once: a later exit 125 is the guest's, not the launcher's */
let bootedOnce = false;
let mconsoleHandle: JailSocket | null = null;

function plain(code: PlainError["code"], message: string, details?: unknown): PlainError {
  return { code, message, details };
}

function removeIfExists(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // absent
  }
}

function signalGroup(sig: NodeJS.Signals): boolean {
  if (!pid) return false;
  try {
    process.kill(-pid, sig);
    return true;
  } catch {
    return false;
  }
}

// ---- console ------------------------------------------------------------

function openConsoleLog(): void {
  logFd = openSync(spec!.files.consoleLog, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o600);
  logBytes = fstatSync(logFd).size;
}

function appendLog(chunk: Buffer): void {
  if (logFd < 0) return;
  try {
    writeSync(logFd, chunk);
    logBytes += chunk.length;
    if (logBytes > spec!.consoleLogMaxBytes) {
      closeSync(logFd);
      renameSync(spec!.files.consoleLog, spec!.files.consoleLog + ".1");
      openConsoleLog();
    }
  } catch (e) {
    log("warn", "console log write failed", { error: (e as Error).message });
  }
}

function onConsoleData(chunk: Buffer): void {
  const offset = scrollback.end;
  scrollback.push(chunk);
  appendLog(chunk);
  consoleTail = chunk.length >= CONSOLE_TAIL_BYTES ? chunk : Buffer.concat([consoleTail, chunk]).subarray(-CONSOLE_TAIL_BYTES);
  const copy = new Uint8Array(chunk.length);
  copy.set(chunk);
  post({ t: "console", data: copy, offset }, [copy.buffer as ArrayBuffer]);
  if (!ready) {
    // fallback readiness: the image's marker on the console (may straddle chunks)
    const text = markerTail + chunk.toString("latin1");
    if (text.includes(READY_CONSOLE_MARKER)) markReady("console");
    markerTail = text.slice(-READY_CONSOLE_MARKER.length);
  }
}

function openConsolePipes(): { stdinFd: number; stdoutFd: number } {
  // O_RDWR: opening never blocks, and the holder is both reader and writer of
  // the FIFO, so UML never gets EOF on its input or EPIPE on its output.
  const stdinFd = openSync(spec!.files.consoleIn, constants.O_RDWR);
  const stdoutFd = openSync(spec!.files.consoleOut, constants.O_RDWR);
  return { stdinFd, stdoutFd };
}

function attachConsoleReaders(): void {
  // native.openFd, not fs.openSync: Node would close these again when this worker exits
  const outFd = native.openFd(spec!.files.consoleOut, constants.O_RDONLY | constants.O_NONBLOCK);
  // a full pipe makes UML wait for the next timer tick (10 ms): 1 MiB keeps bulk output flowing,
  // and holds that much console output while no daemon reads
  try {
    native.setPipeSize(outFd, CONSOLE_PIPE_BYTES);
  } catch (e) {
    log("debug", "console pipe size unchanged", { error: (e as Error).message });
  }
  consoleOut = new Socket({ fd: outFd, readable: true, writable: false });
  consoleOut.on("data", onConsoleData);
  consoleOut.on("error", (e) => log("warn", "console read error", { error: e.message }));
  const inFd = native.openFd(spec!.files.consoleIn, constants.O_RDWR | constants.O_NONBLOCK);
  consoleIn = new Socket({ fd: inFd, readable: false, writable: true });
  consoleIn.on("error", (e) => log("warn", "console write error", { error: e.message }));
}

// ---- extra consoles and serial lines (con1..15, ssl0..63) -------------------

interface Channel {
  master: number;
  slave: string;
  slaveFd: number;
  reader: TtyReadStream;
  scrollback: Scrollback;
}
const channels = new Map<string, Channel>();

/**
 * A pty pair per channel: UML gets the slave (`sslN=tty:/dev/pts/M`), this
 * worker reads and writes the master. The worker also keeps the slave open so
 * the master never sees a hang-up when the guest closes the line.
 */
function openChannel(name: string): Channel {
  const existing = channels.get(name);
  if (existing) return existing;
  const { master, slave } = native.openpty();
  chownSync(slave, spec!.guest.uid, spec!.guest.gid); // UML opens the slave by path, as the guest user
  const slaveFd = native.openFd(slave, constants.O_RDWR | constants.O_NOCTTY);
  const reader = new TtyReadStream(master);
  const ch: Channel = { master, slave, slaveFd, reader, scrollback: new Scrollback(64 * 1024) };
  reader.on("data", (chunk: Buffer) => {
    const offset = ch.scrollback.end;
    ch.scrollback.push(chunk);
    const copy = new Uint8Array(chunk.length);
    copy.set(chunk);
    post({ t: "channel-data", channel: name, data: copy, offset }, [copy.buffer as ArrayBuffer]);
  });
  reader.on("error", (e) => log("warn", "channel read error", { channel: name, error: e.message }));
  channels.set(name, ch);
  return ch;
}

/** (Re)configures the channel in the guest kernel; checked by querying it back. */
async function configureChannel(name: string): Promise<string> {
  const ch = openChannel(name);
  if (!legacy) await changeJail({ readOnly: [], readWrite: [], devices: [ch.slave], remove: [] }); // the jail gets this one pty
  await mc(`remove ${name}`).catch(() => {});
  await mc(`config ${name}=tty:${ch.slave}`);
  const now = (await mc(`config ${name}`)).trim();
  if (!now.includes(ch.slave)) throw new MconsoleError("error", `${name} is '${now}', not the daemon's pty`, `config ${name}`);
  return ch.slave;
}

async function closeChannel(name: string): Promise<void> {
  const ch = channels.get(name);
  if (mconsole?.connected) await mc(`remove ${name}`); // refused while the guest has the line open
  if (!ch) return;
  channels.delete(name);
  ch.reader.destroy(); // libuv closes the master
  try {
    closeSync(ch.slaveFd);
  } catch {
    // already closed
  }
  if (!legacy && !exited) await changeJail({ readOnly: [], readWrite: [], devices: [], remove: [ch.slave] }).catch(() => {});
}

/** Console input queued here for a guest that does not read (paused, hung): past it, input is dropped and the writer told. */
const MAX_QUEUED_INPUT = 1024 * 1024;

/** False when (part of) the input was dropped: the pty's buffer is full (libuv made the master non-blocking). */
function channelInput(name: string, data: Uint8Array): boolean {
  const ch = channels.get(name);
  if (!ch) return true;
  try {
    return writeSync(ch.master, data) === data.byteLength;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EAGAIN") log("warn", "channel input dropped", { channel: name, error: (e as Error).message });
    return false;
  }
}

// ---- hang watchdog ---------------------------------------------------------

let hangTimeoutMs = 0;
let probeTimer: NodeJS.Timeout | null = null;
let lastProgressAt = 0;
let lastUptime = -1;
let hangReported = false;
let probing = false;

/**
 * A guest is making progress while its kernel's CPU tick counters advance
 * (the `cpu` line of /proc/stat: they move only when the guest takes timer
 * interrupts; /proc/uptime would not do, UML's clock reads the host's). mconsole
 * answers even a guest frozen with `stop` (UML runs commands itself then), so
 * the probe compares counters instead of trusting an answer; a kernel too
 * stuck to answer at all times out.
 */
function startWatchdog(): void {
  if (probeTimer) clearInterval(probeTimer);
  probeTimer = null;
  lastProgressAt = Date.now();
  lastUptime = -1;
  hangReported = false;
  if (hangTimeoutMs <= 0) return;
  probeTimer = setInterval(() => void probe(), Math.max(500, Math.min(5000, Math.floor(hangTimeoutMs / 3))));
}

async function probe(): Promise<void> {
  if (probing || exited) return;
  if (!mconsole?.connected || paused || busy) {
    lastProgressAt = Date.now(); // asked-for pauses and running actions are not hangs
    return;
  }
  probing = true;
  let how: string;
  try {
    const stat = await mc("proc stat", Math.min(5000, hangTimeoutMs));
    const cpu = /^cpu\s+([\d\s]+)$/m.exec(stat)?.[1] ?? "";
    const ticks = cpu.trim().split(/\s+/).reduce((n, x) => n + Number(x), 0);
    if (ticks > lastUptime) {
      lastUptime = ticks;
      lastProgressAt = Date.now();
      hangReported = false;
      return;
    }
    how = `the guest's CPU tick counters stayed at ${ticks} (no timer interrupts)`;
  } catch (e) {
    how = `mconsole did not answer: ${(e as Error).message}`;
  } finally {
    probing = false;
  }
  const since = Date.now() - lastProgressAt;
  if (since >= hangTimeoutMs && !hangReported) {
    hangReported = true;
    post({ t: "hang", sinceS: Math.round(since / 100) / 10, probe: how, source: "probe" });
  }
}

// ---- readiness and notify -------------------------------------------------

/** A guest may write to /proc/mconsole as often as it likes: at most 10 of its notes a minute reach the log. */
const userNotes = (() => {
  let windowStart = 0;
  let count = 0;
  return {
    take(): boolean {
      const now = Date.now();
      if (now - windowStart > 60_000) {
        if (count > 10) log("info", "guest notifications left out of the log", { count: count - 10 });
        windowStart = now;
        count = 0;
      }
      return ++count <= 10;
    },
  };
})();

function markReady(via: "notify" | "console"): void {
  if (ready) return;
  ready = true;
  markerTail = "";
  post({ t: "ready", bootMs: Date.now() - bootStartedAt, via });
}

function onNotify(buf: Buffer): void {
  const m = decodeNotify(buf);
  switch (m.type) {
    case "socket": {
      // only where its mconsole must be: a path announced by the guest could name another guest's
      if (m.mconsolePath !== spec!.mconsoleInJail) {
        log("warn", "the guest announced another mconsole path; ignored", { expected: spec!.mconsoleInJail, got: m.mconsolePath.slice(0, 200) });
      }
      try {
        connectMconsole();
      } catch (e) {
        log("error", "mconsole connect failed", { error: (e as Error).message });
      }
      ready = false;
      paused = false;
      bootedOnce = true;
      consoleTail = Buffer.alloc(0);
      startWatchdog();
      post({ t: "booted", mconsolePath: m.mconsolePath, at: Date.now() });
      break;
    }
    case "user":
      if (m.text.startsWith(READY_NOTIFY_TEXT)) markReady("notify");
      else if (userNotes.take()) log("info", "guest notification", { text: m.text.slice(0, 200) });
      break;
    case "panic":
      panicMessage = m.message;
      post({ t: "panic", message: m.message });
      break;
    case "hang":
      post({ t: "hang", sinceS: 60, probe: "the guest's /dev/watchdog was not fed for 60 s (uml_watchdog)", source: "watchdog" });
      break;
    default:
      log("debug", "unknown notify datagram", { bytes: buf.length });
  }
}

// ---- process --------------------------------------------------------------

/** The launcher's own failure (exit 125 before the kernel ran): its message is the last line of the stderr log. */
const JAIL_FAILED = 125;

function jailFailure(): string | null {
  try {
    const lines = readLogTail(spec!.files.stderrLog, 4096).toString("utf8").trim().split("\n");
    const last = [...lines].reverse().find((l) => l.startsWith("umld-jail: "));
    return last ? last.slice("umld-jail: ".length) : null;
  } catch {
    return null;
  }
}

/** Classifies the end (called a moment after the exit, so the console and notify bytes written before it are in). */
function exitReason(code: number | null, signal: string | null): { reason: string; requested: boolean } {
  if (code === JAIL_FAILED && !bootedOnce) return { reason: `the guest's jail could not be made: ${jailFailure() ?? "see uml.stderr.log"}`, requested: false };
  const r = classifyExit({ code, signal, stopRequested, panicMessage, consoleTail: consoleTail.toString("latin1") });
  if (r.diedAfterHalt) log("warn", "the guest had halted, then UML died in its own teardown: counted as powered off", { code, signal, panic: panicMessage });
  return r;
}

function onExit(code: number | null, signal: NodeJS.Signals | null): void {
  const { reason, requested } = exitReason(code, signal);
  finishExit(code, signal, reason, requested);
}

function finishExit(code: number | null, signal: string | null, reason: string, requested: boolean, adopted = false): void {
  if (exited) return;
  exited = true;
  // a SIGKILL of the main pid alone leaves guest processes running natively: reap them
  if (!adopted) signalGroup("SIGKILL");
  const cpuNs = killStragglers();
  mconsole?.close();
  mconsoleHandle?.close();
  mconsoleHandle = null;
  post({ t: "exited", code, signal, reason, requested, cpuNs });
  for (const w of exitWaiters) w();
  exitWaiters = [];
  // give the main thread the last console bytes, then go away
  setTimeout(teardown, 50);
}

function waitExit(ms: number): Promise<boolean> {
  if (exited) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      exitWaiters = exitWaiters.filter((w) => w !== done);
      resolve(false);
    }, ms);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    exitWaiters.push(done);
  });
}

/** The pid is alive and still this instance's UML: its umid and its own uid (guards against pid reuse and impostors). */
function guestAlive(): boolean {
  return isGuestProcess(pid, { umid: spec!.instanceId, uid: legacy ? null : spec!.guest.uid });
}

/**
 * Every process left of the guest: its cgroup holds them all (its helpers,
 * and guest processes that outlived a killed kernel); then the cgroup goes.
 * A legacy guest has no cgroup: its processes are found by umid, never by
 * signalling a process group whose leader may be reused.
 */
function killStragglers(): number | null {
  const cg = spec!.cgroup;
  if (cg && !legacy) {
    killCgroup(cg.layout, cg.name);
    const cpuNs = finalCpuNs(cg.layout, cg.name); // the guest's CPU time, read before its cgroup goes
    if (!removeCgroup(cg.layout, cg.name)) log("warn", "the guest's cgroup could not be removed", { cgroup: cg.name });
    return cpuNs;
  }
  for (const p of processesWithUmid(spec!.instanceId, null)) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

function finalCpuNs(layout: CgroupLayout, name: string): number | null {
  const file = cpuUsageFile(layout, name);
  try {
    return file ? parseCpuUsageNs(layout.version, readFileSync(file, "utf8")) : null;
  } catch {
    return null;
  }
}

/** (Re)connects the mconsole client to the socket inside the guest's jail, reached without following a symlink. */
function connectMconsole(): void {
  const handle = openJailSocket(pid, spec!.mconsoleInJail);
  try {
    mconsole!.connect(handle.path);
  } catch (e) {
    handle.close();
    throw e;
  }
  mconsoleHandle?.close();
  mconsoleHandle = handle; // the client reconnects through it after a timeout
}

/** Mounts added to or removed from the running jail (hot-plugged disks, NICs' helpers, channel ptys), one change at a time. */
let jailQueue: Promise<unknown> = Promise.resolve();
function changeJail(c: Omit<JailChange, "pid">): Promise<void> {
  const run = () =>
    new Promise<void>((resolve, reject) => {
      if (legacy) return reject(new Error("a guest started before jails cannot get new devices: restart it"));
      const { command, args } = enterArgv({ ...c, pid }, spec!.launcher);
      execFile(command, args, { timeout: 10_000 }, (err, _out, stderr) => {
        if (err) reject(new Error(String(stderr).trim().replace(/^umld-jail: /, "") || err.message));
        else resolve();
      });
    });
  const next = jailQueue.then(run, run);
  jailQueue = next.catch(() => {});
  return next;
}

/** What spawning and adopting share: the notify socket, an mconsole client, the console log. */
function openSupervision(s: WorkerBootSpec): void {
  spec = s;
  scrollback = new Scrollback(s.scrollbackBytes);
  removeIfExists(s.files.notifySocket);
  notifySock = new native.Socket((buf, truncated) => {
    if (truncated) log("warn", "a notification longer than 64 KiB was dropped"); // the kernel's are short: a guest forged it
    else onNotify(buf);
  });
  notifySock.bind(s.files.notifySocket);
  // the guest sends to both sockets: they are its own, in a root-owned directory it cannot change
  chownSocket(s.files.notifySocket, s.guest.uid, s.guest.gid);
  mconsole = new MconsoleClient(s.files.mconsoleClient, s.guest);
  openConsoleLog();
}

/** Supervise a UML process left running by a previous daemon: same FIFOs, sockets and pid. */
function adopt(s: WorkerBootSpec, a: { pid: number; paused: boolean; legacy: boolean }): void {
  legacy = a.legacy;
  openSupervision(s);
  pid = a.pid;
  paused = a.paused;
  ready = true;
  bootedOnce = true;
  // console continuity: a viewer that reconnects gets what the log holds (output written
  // while no daemon was reading waits in the FIFO and follows)
  scrollback.push(readLogTail(s.files.consoleLog, s.scrollbackBytes));
  attachConsoleReaders();
  let connected = false;
  try {
    connectMconsole();
    connected = true;
  } catch (e) {
    log("warn", "adopted guest's mconsole not reachable", { error: (e as Error).message });
  }
  // not our child: no exit event, so watch the pid
  const timer = setInterval(() => {
    if (guestAlive()) return;
    clearInterval(timer);
    const { reason, requested } = exitReason(null, null);
    finishExit(null, null, reason, requested, true);
  }, 250);
  post({ t: "adopted", pid, mconsole: connected });
}

/**
 * A launcher spawned ahead of time, already in a spare cgroup of its own: joining a cgroup waits for
 * an RCU grace period (~10 ms, more under load) and spawning costs too, neither of which a start
 * should pay. It waits for its arguments on a pipe; a boot renames its cgroup to the instance's.
 */
interface Standby {
  pid: number;
  writeFd: number;
  spare: string;
  layout: CgroupLayout;
  /** it died before it was used */
  gone: boolean;
  /** resolves true once it is in its cgroups (its cgroup may be renamed then), false if it ended first */
  joined: Promise<boolean>;
}
let standby: Standby | null = null;
/** the exit callback of whatever process is the guest's (a standby becomes the guest) */
let onProcessExit: (code: number | null, signal: string | null) => void = () => {};

function prepareStandby(launcher: string, layout: CgroupLayout): void {
  const spare = `spare-${randomBytes(6).toString("hex")}`;
  const dirs = createCgroup(layout, spare, { memoryBytes: null, pids: null, cpuWeight: null });
  const [argsRead, argsWrite] = native.pipe();
  const [joinedRead, joinedWrite] = native.pipe();
  const devNull = native.openFd("/dev/null", constants.O_RDWR);
  try {
    let joined!: (v: boolean) => void;
    const s: Standby = { pid: 0, writeFd: argsWrite, spare, layout, gone: false, joined: new Promise((r) => (joined = r)) };
    // it says "joined" on its stdout once it is in its cgroups: only then may a boot rename them
    const reader = new Socket({ fd: joinedRead, readable: true, writable: false });
    reader.once("data", () => joined(true));
    reader.on("end", () => joined(false));
    reader.on("error", () => joined(false));
    reader.on("close", () => joined(false));
    s.pid = native.spawnWatched(launcher, [launcher, "--standby", ...dirs.flatMap((d) => ["--cgroup", d])], ["PATH=/usr/bin:/bin"], [argsRead, joinedWrite, devNull], (code, signal) => {
      if (standby === s) {
        s.gone = true; // died unused: a boot spawns a fresh launcher
        joined(false);
      } else onProcessExit(code, signal);
    });
    standby = s;
  } catch (e) {
    native.closeFd(argsWrite);
    removeCgroup(layout, spare);
    log("warn", "no standby launcher: starts spawn one", { error: (e as Error).message });
  } finally {
    native.closeFd(argsRead);
    native.closeFd(joinedWrite);
    native.closeFd(devNull);
  }
}

/** A standby that will not be used (an adoption, a teardown): it ends with EOF, its cgroup goes. */
function dropStandby(): void {
  const s = standby;
  if (!s) return;
  standby = null;
  native.closeFd(s.writeFd);
  killCgroup(s.layout, s.spare);
  removeCgroup(s.layout, s.spare);
}

/** The arguments a standby launcher gets on its pipe: the jail's, its console ends and its environment. */
function standbyArgs(s: WorkerBootSpec): Buffer {
  const args = [
    ...s.args,
    // options before "--" only: insert ours ahead of the program
  ];
  const sep = args.indexOf("--");
  const extra = ["--stdin", s.files.consoleIn, "--stdout", s.files.consoleOut, "--stderr", s.files.stderrLog, ...Object.entries(s.env).flatMap(([k, v]) => ["--env", `${k}=${v}`])];
  args.splice(sep, 0, ...extra);
  return Buffer.from(args.map((a) => `${a}\0`).join(""));
}

async function boot(s: WorkerBootSpec): Promise<void> {
  hangTimeoutMs = s.hangTimeoutMs;
  if (s.adopt) {
    dropStandby();
    adopt(s, s.adopt);
    startWatchdog();
    return;
  }
  openSupervision(s);
  onProcessExit = (code, signal) => {
    // the console and notify bytes written before the exit may still be in flight: read them first
    setTimeout(() => onExit(code, signal as NodeJS.Signals | null), 25);
  };
  const candidate = standby && !standby.gone && s.cgroup && s.cgroup.layout.parent === standby.layout.parent ? standby : null;
  // a standby still joining its cgroups (taken right after it was made) is waited for: ~10 ms
  const ready = candidate && (await Promise.race([candidate.joined, new Promise<boolean>((r) => setTimeout(() => r(false), 2000))])) ? candidate : null;
  if (ready && s.cgroup) {
    standby = null;
    bootStartedAt = Date.now();
    try {
      renameCgroup(ready.layout, ready.spare, s.cgroup.name, ready.pid);
      setLimits(ready.layout, s.cgroup.name, s.cgroup.limits);
      writeSync(ready.writeFd, standbyArgs(s));
    } catch (e) {
      native.closeFd(ready.writeFd);
      killCgroup(ready.layout, s.cgroup.name);
      throw e;
    }
    native.closeFd(ready.writeFd); // EOF: it goes on with these arguments
    pid = ready.pid;
  } else {
    dropStandby();
    if (!spawnFresh(s)) return;
  }
  post({ t: "spawned", pid, at: bootStartedAt });
  attachConsoleReaders(); // after the spawn: what the guest writes meanwhile waits in the FIFO
}

/** A launcher spawned now, joining the guest's cgroup itself. False when it could not be spawned (reported). */
function spawnFresh(s: WorkerBootSpec): boolean {
  const cgroupArgs = s.cgroup ? createCgroup(s.cgroup.layout, s.cgroup.name, s.cgroup.limits).flatMap((d) => ["--cgroup", d]) : [];
  const { stdinFd, stdoutFd } = openConsolePipes();
  const errFd = openSync(s.files.stderrLog, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW, 0o600);
  bootStartedAt = Date.now();
  try {
    // posix_spawn: the daemon's page tables are not copied (Node's fork+exec cost milliseconds of every
    // boot); its own session, so a signal to the daemon's group never reaches the guest
    pid = native.spawnWatched(s.command, [s.command, ...cgroupArgs, ...s.args], Object.entries(s.env).map(([k, v]) => `${k}=${v}`), [stdinFd, stdoutFd, errFd], (code, signal) => onProcessExit(code, signal));
    return true;
  } catch (e) {
    post({ t: "fatal", error: plain("host_error", `cannot start UML: ${(e as Error).message}`, { command: s.command }) });
    exited = true;
    setTimeout(teardown, 10);
    return false;
  } finally {
    closeSync(stdinFd);
    closeSync(stdoutFd);
    closeSync(errFd);
  }
}

// ---- actions -----------------------------------------------------------------

async function mc(command: string, timeoutMs = 3000): Promise<string> {
  if (!mconsole?.connected) throw new MconsoleError("transport", "mconsole not connected yet", command);
  return mconsole.request(command, timeoutMs);
}

async function ensureRunningForStop(): Promise<void> {
  if (paused) {
    await mc("go");
    paused = false;
  }
}

/** Hard stop, escalating: mconsole halt, SIGTERM, then SIGKILL to the whole group. */
async function hardStop(reason: string, budgetMs: number): Promise<void> {
  stopRequested ??= reason;
  try {
    await ensureRunningForStop();
    await mc("halt", Math.min(1000, budgetMs));
    if (await waitExit(Math.min(2000, budgetMs))) return;
  } catch {
    // mconsole not there or not answering: signals next
  }
  if (signalGroup("SIGTERM") && (await waitExit(Math.min(2000, budgetMs)))) return;
  signalGroup("SIGKILL");
  await waitExit(2000);
}

async function runAction(action: SupervisedAction, timeoutMs: number): Promise<unknown> {
  switch (action) {
    case "shutdown": {
      stopRequested = "shut down";
      let graceful = false;
      try {
        await ensureRunningForStop();
        await mc("cad");
        graceful = await waitExit(timeoutMs);
      } catch (e) {
        log("warn", "graceful shutdown not possible, halting", { error: (e as Error).message });
      }
      if (!graceful) {
        stopRequested = "shut down (halted after timeout)";
        await hardStop(stopRequested, 5000);
      }
      return { graceful };
    }
    case "halt":
      await hardStop("halted", 5000);
      return {};
    case "reboot":
      await ensureRunningForStop();
      ready = false;
      bootStartedAt = Date.now();
      await mc("reboot");
      return {};
    case "pause":
      await mc("stop");
      paused = true;
      return {};
    case "resume":
      await mc("go");
      paused = false;
      return {};
  }
}

function toPlain(e: unknown): PlainError {
  if (e instanceof MconsoleError) {
    const code = e.kind === "timeout" ? "action_timeout" : e.kind === "error" ? "mconsole_error" : "host_error";
    return plain(code, e.message, { command: e.command.split(" ")[0], err: e.err });
  }
  const err = e as { code?: string; message?: string };
  return plain("host_error", err.message ?? String(e), err.code ? { errno: err.code } : undefined);
}

// ---- teardown ------------------------------------------------------------------

function teardown(): void {
  dropStandby();
  if (probeTimer) clearInterval(probeTimer);
  probeTimer = null;
  for (const ch of channels.values()) {
    ch.reader.destroy();
    try {
      closeSync(ch.slaveFd);
    } catch {
      // already closed
    }
  }
  channels.clear();
  consoleOut?.destroy();
  consoleIn?.destroy();
  consoleOut = consoleIn = null;
  mconsole?.close();
  notifySock?.close();
  notifySock = null;
  if (logFd >= 0) {
    closeSync(logFd);
    logFd = -1;
  }
  port.close();
}

// ---- message loop ------------------------------------------------------------

port.on("message", (m: ToWorker) => {
  switch (m.t) {
    case "standby":
      prepareStandby(m.launcher, m.cgroups);
      break;
    case "boot":
      boot(m.spec).catch((e) => {
        post({ t: "fatal", error: toPlain(e) });
        setTimeout(teardown, 10);
      });
      break;
    case "action":
      if (busy) {
        post({ t: "reply", id: m.id, ok: false, error: plain("instance_busy", `'${busy}' is still running`, { busy }) });
        break;
      }
      busy = m.action;
      runAction(m.action, m.timeoutMs).then(
        (value) => post({ t: "reply", id: m.id, ok: true, value }),
        (e) => post({ t: "reply", id: m.id, ok: false, error: toPlain(e) }),
      ).finally(() => {
        busy = null;
      });
      break;
    case "mconsole":
      mc(m.command, m.timeoutMs).then(
        (value) => post({ t: "reply", id: m.id, ok: true, value }),
        (e) => post({ t: "reply", id: m.id, ok: false, error: toPlain(e) }),
      );
      break;
    case "console-in": {
      const full = consoleIn !== null && consoleIn.writableLength + m.data.byteLength > MAX_QUEUED_INPUT;
      if (!full) consoleIn?.write(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
      post({ t: "reply", id: m.id, ok: true, value: !full });
      break;
    }
    case "scrollback": {
      const snap = scrollback.snapshot();
      const copy = new Uint8Array(snap.data.length);
      copy.set(snap.data);
      post({ t: "reply", id: m.id, ok: true, value: { data: copy, end: snap.end } }, [copy.buffer as ArrayBuffer]);
      break;
    }
    case "channel-open":
      (mconsole?.connected ? configureChannel(m.channel) : Promise.resolve(openChannel(m.channel).slave)).then(
        (value) => post({ t: "reply", id: m.id, ok: true, value }),
        (e) => post({ t: "reply", id: m.id, ok: false, error: toPlain(e) }),
      );
      break;
    case "channel-close":
      closeChannel(m.channel).then(
        () => post({ t: "reply", id: m.id, ok: true }),
        (e) => post({ t: "reply", id: m.id, ok: false, error: toPlain(e) }),
      );
      break;
    case "channel-in":
      post({ t: "reply", id: m.id, ok: true, value: channelInput(m.channel, m.data) });
      break;
    case "channel-scrollback": {
      const ch = channels.get(m.channel);
      const snap = ch ? ch.scrollback.snapshot() : { data: Buffer.alloc(0), end: 0 };
      const copy = new Uint8Array(snap.data.length);
      copy.set(snap.data);
      post({ t: "reply", id: m.id, ok: true, value: { data: copy, end: snap.end } }, [copy.buffer as ArrayBuffer]);
      break;
    }
    case "jail":
      changeJail(m.change).then(
        () => post({ t: "reply", id: m.id, ok: true }),
        (e) => post({ t: "reply", id: m.id, ok: false, error: plain("device_failed", `the guest's jail could not be changed: ${(e as Error).message}`) }),
      );
      break;
    case "watchdog":
      hangTimeoutMs = m.hangTimeoutMs;
      if (mconsole?.connected) startWatchdog();
      break;
    case "detach":
      // daemon going away: leave the guest running, release our ends
      post({ t: "reply", id: m.id, ok: true });
      setTimeout(teardown, 10);
      break;
  }
});

post({ t: "idle" });
