import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync } from "node:fs";
import { defaultCgroupParent } from "../../core/jail/cgroups.js";
import { processGroup, switchProcesses, umlProcessesUnder } from "../../core/host/procfs.js";
import type { IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { matchRoute } from "../../protocol/paths.js";
import { ErrorBody } from "../../protocol/errors.js";
import type { Event } from "../../protocol/events.js";
import type { InstanceView } from "../../protocol/instances.js";
import { checkAnswer, UmldClient } from "../../client/index.js";
import { fetchTransport } from "../../client/transport.js";
import { nodeTransport } from "../../client/node/transports.js";
import { sweepHostNetworking } from "./host-net.js";

export const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const MAIN = `${REPO}dist/daemon/main.js`;

export interface ApiResult<T = any> {
  status: number;
  body: T;
}

/** A real umld process on a temp state dir, with plain helpers so scenarios read as steps. */
export class TestDaemon {
  readonly events: Event[] = [];
  private eventWaiters: Array<() => void> = [];
  private eventsWs: WebSocket | null = null;
  logLines: string[] = [];
  stopping = false;

  private constructor(
    readonly stateDir: string,
    readonly proc: ChildProcess,
    readonly url: string,
    readonly token: string,
    /** the CA that signed the daemon's TLS certificate (https URLs) */
    readonly ca?: Buffer,
  ) {}

  /**
   * `env`: added to the daemon's environment (e.g. NOTIFY_SOCKET); `cgroups`: cgroup directories the
   * daemon process joins before it starts (as systemd puts a service's main process in the unit's).
   */
  /** `node` takes Node's own options (e.g. --cpu-prof for a bench). */
  static async start(
    opts: { stateDir?: string; logLevel?: "trace" | "debug" | "info"; args?: string[]; ca?: Buffer; env?: Record<string, string>; cgroups?: string[]; node?: string[] } = {},
  ): Promise<TestDaemon> {
    const stateDir = opts.stateDir ?? mkdtempSync("/tmp/umld-t-");
    const ids = (opts.args ?? []).includes("--guest-ids") ? [] : ["--guest-ids", testGuestIds(stateDir)];
    const argv = [...(opts.node ?? []), MAIN, "--state-dir", stateDir, "--listen", "127.0.0.1:0", "--log-level", opts.logLevel ?? "debug", ...ids, ...(opts.args ?? [])];
    const enter = (opts.cgroups ?? []).map((d) => `echo $$ > '${d}/cgroup.procs'`).join(" && ");
    const [cmd, args] = enter ? ["/bin/sh", ["-c", `${enter} && exec "$0" "$@"`, process.execPath, ...argv]] : [process.execPath, argv];
    const proc = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...opts.env } });
    const lines: string[] = [];
    // "umld listening" is an info line: the daemon must log at info or lower for the harness to see it
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill("SIGKILL"); // never leave a daemon behind a failed start
        reject(new Error(`umld did not start:\n${lines.join("\n")}`));
      }, 60_000);
      proc.on("exit", (code) => reject(new Error(`umld exited with ${code}:\n${lines.join("\n")}`)));
      proc.stderr!.on("data", (d) => lines.push(String(d)));
      createInterface({ input: proc.stdout! }).on("line", (line) => {
        lines.push(line);
        if (line.includes('"umld listening"')) {
          clearTimeout(timer);
          const l = JSON.parse(line) as { tcp: string; tls?: boolean };
          resolve(`${l.tls ? "https" : "http"}://${l.tcp}`);
        }
      });
    });
    const token = readFileSync(`${stateDir}/admin.token`, "utf8").trim();
    const d = new TestDaemon(stateDir, proc, url, token, opts.ca);
    d.logLines = lines;
    proc.on("exit", (code, signal) => {
      if (!d.stopping) process.stderr.write(`# umld exited unexpectedly (${code ?? signal}); last log lines:\n${lines.slice(-15).join("\n")}\n`);
    });
    await d.subscribeEvents();
    return d;
  }

  async api<T = any>(method: string, path: string, body?: unknown, opts: { token?: string | null; raw?: string; contentType?: string; headers?: Record<string, string> } = {}): Promise<ApiResult<T>> {
    const headers: Record<string, string> = { ...opts.headers };
    const token = opts.token === undefined ? this.token : opts.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let payload: string | undefined;
    if (opts.raw !== undefined) payload = opts.raw;
    else if (body !== undefined) payload = JSON.stringify(body);
    if (payload !== undefined) headers["content-type"] = opts.contentType ?? "application/json";
    let answer: ApiResult;
    if (this.ca) answer = await httpsJson(this.url + path, method, headers, payload, this.ca);
    else {
      const res = await fetch(this.url + path, { method, headers, body: payload });
      const text = await res.text();
      // text answers (GET /metrics, a console log) stay text
      const json = (res.headers.get("content-type") ?? "application/json").startsWith("application/json");
      answer = { status: res.status, body: json ? (text ? JSON.parse(text) : null) : text };
    }
    assertConforms(method, path, answer);
    return answer;
  }

  /** The typed client of client/ on this daemon (as admin, or with `token`). */
  client(token: string | null = this.token): UmldClient {
    const transport = this.ca ? nodeTransport(this.url, { ca: this.ca }) : fetchTransport(this.url);
    return new UmldClient({ transport, token });
  }

  async create(name: string, memoryMiB = 64): Promise<InstanceView> {
    return this.client().call("createInstance", { body: { name, memoryMiB } });
  }

  async act(name: string, action: string, extra: Record<string, unknown> = {}): Promise<ApiResult> {
    return this.api("PUT", `/v1/instances/${name}/state`, { action, ...extra });
  }

  async mustAct(name: string, action: string): Promise<InstanceView> {
    const r = await this.act(name, action);
    if (r.status !== 200) throw new Error(`${action} ${name}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.instance;
  }

  async get(name: string): Promise<InstanceView> {
    return (await this.api("GET", `/v1/instances/${name}`)).body;
  }

  ws(path: string, token: string | null = this.token): WebSocket {
    return new WebSocket(this.url.replace(/^http/, "ws") + path, { headers: token ? { authorization: `Bearer ${token}` } : {}, ...(this.ca ? { ca: this.ca } : {}) });
  }

  /** The HTTP status a WebSocket upgrade gets (101 when it opens). */
  upgradeStatus(path: string, token: string | null = this.token): Promise<number> {
    return new Promise((resolve) => {
      const ws = this.ws(path, token);
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.on("open", () => {
        ws.close();
        resolve(101);
      });
      ws.on("error", () => {});
    });
  }

  async console(name: string, scrollback = true, channel?: string, token: string | null = this.token): Promise<ConsoleClient> {
    const q = new URLSearchParams();
    if (!scrollback) q.set("scrollback", "0");
    if (channel) q.set("channel", channel);
    const ws = this.ws(`/v1/instances/${name}/console${q.size ? `?${q}` : ""}`, token);
    const client = new ConsoleClient(ws); // listen before 'open': the scrollback may arrive with the upgrade
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return client;
  }

  /** A console on which the guest's shell prompt has appeared (input typed earlier is flushed by the tty). */
  async shell(name: string): Promise<ConsoleClient> {
    const con = await this.console(name, true);
    await con.waitFor(`${name}:/# `, 20_000);
    return con;
  }

  private async subscribeEvents(): Promise<void> {
    const ws = this.ws("/v1/events");
    ws.on("message", (d) => {
      this.events.push(JSON.parse(String(d)) as Event);
      for (const w of this.eventWaiters) w();
    });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    this.eventsWs = ws;
  }

  /** Waits for an event matching `pred` (also one already received after index `from`). */
  waitEvent(pred: (e: Event) => boolean, timeoutMs = 30_000, from = 0): Promise<Event> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const e = this.events.slice(from).find(pred);
        if (e) {
          clearTimeout(timer);
          this.eventWaiters = this.eventWaiters.filter((w) => w !== check);
          resolve(e);
        }
      };
      const timer = setTimeout(() => {
        this.eventWaiters = this.eventWaiters.filter((w) => w !== check);
        reject(new Error(`no matching event in ${timeoutMs} ms; got ${JSON.stringify(this.events.slice(from).slice(-10))}`));
      }, timeoutMs);
      this.eventWaiters.push(check);
      check();
    });
  }

  /** Why a guest's process ended, for a failure message: lastExit, the daemon's lines about it, and the tails of its console log and UML's stderr. */
  async exitReport(name: string): Promise<string> {
    const vm = await this.get(name);
    const dir = `${this.stateDir}/instances/${vm.id}`;
    const tail = (file: string, bytes: number) => {
      try {
        return readFileSync(`${dir}/${file}`, "latin1").slice(-bytes);
      } catch (e) {
        return `(${(e as Error).message})`;
      }
    };
    const logs = this.logLines.filter((l) => l.includes(`"instance":${JSON.stringify(name)}`)).slice(-8);
    return [
      `lastExit: ${JSON.stringify(vm.lastExit)}`,
      "--- daemon log ---",
      ...logs,
      "--- console.log tail ---",
      tail("console.log", 1500),
      "--- uml.stderr.log tail ---",
      tail("uml.stderr.log", 400),
    ].join("\n");
  }

  statesOf(name: string, from = 0): string[] {
    return this.events
      .slice(from)
      .filter((e) => e.type === "instance.state" && e.instance === name)
      .map((e) => (e as { to: string }).to);
  }

  /** Ends the daemon process only (SIGTERM or SIGKILL); its guests are left as they are. */
  async kill(signal: NodeJS.Signals): Promise<void> {
    this.stopping = true;
    this.eventsWs?.terminate();
    this.proc.kill(signal);
    if (this.proc.exitCode === null && this.proc.signalCode === null) await new Promise((r) => this.proc.once("exit", r));
  }

  /** Stops the daemon (guests keep running), then halts every guest it left so tests leave nothing behind. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.eventsWs?.terminate();
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      try {
        const list = await this.api("GET", "/v1/instances");
        await Promise.all((list.body?.instances ?? []).filter((i: InstanceView) => i.pid).map((i: InstanceView) => this.act(i.name, "halt")));
      } catch {
        // daemon not answering: the kill below and the sweep handle it
      }
      this.proc.kill("SIGTERM");
      await new Promise((r) => this.proc.once("exit", r));
    }
    leaveNothingOf(this.stateDir);
    const bug = this.logLines.find((l) => l.includes("unhandled rejection"));
    if (bug) throw new Error(`umld logged an unhandled rejection: ${bug.slice(0, 500)}`);
  }
}

/**
 * Every answer an integration test gets must be one the contract declares: a
 * status the route lists and a body its schema for that status accepts (an
 * unknown path: an error body). So every test checks the protocol.
 */
export function assertConforms(method: string, path: string, answer: ApiResult): void {
  const pathname = path.split("?")[0]!;
  const m = matchRoute(method, pathname);
  const what = `${method} ${pathname} answered ${answer.status} ${JSON.stringify(answer.body)?.slice(0, 400)}`;
  if (!m) {
    if (!ErrorBody.safeParse(answer.body).success) throw new Error(`contract: no route, and not an error body: ${what}`);
    return;
  }
  const c = checkAnswer(m.def, answer.status, answer.body);
  if (!c.ok) throw new Error(`contract (${m.name}): ${c.problem}${c.issues.length ? `: ${JSON.stringify(c.issues.slice(0, 5))}` : ""}; ${what}`);
}

/**
 * Host ids of a test daemon: its own range, the same for every start on one
 * state dir, so concurrent test daemons never give two guests one uid (and
 * one daemon's guest filter never judges another's guests).
 */
export function testGuestIds(stateDir: string): string {
  const slot = createHash("sha256").update(stateDir).digest().readUInt32BE(0) % 10_000;
  const first = 2_100_000_000 + slot * 10_000;
  return `${first}-${first + 9_999}`;
}

/** A node:http(s) answer read whole: its status and its JSON body (null when empty). */
export function jsonAnswer(res: IncomingMessage): Promise<ApiResult> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on("data", (c: Buffer) => chunks.push(c));
    res.on("error", reject);
    res.on("end", () => {
      const text = Buffer.concat(chunks).toString();
      try {
        resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null });
      } catch (e) {
        reject(e);
      }
    });
  });
}

/** fetch() cannot be given a CA: the same request through node:https, trusting `ca` only. */
export function httpsJson(url: string, method: string, headers: Record<string, string>, payload: string | undefined, ca: Buffer): Promise<ApiResult> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, headers, ca }, (res) => jsonAnswer(res).then(resolve, reject));
    req.on("error", reject);
    req.end(payload);
  });
}

/** SIGKILL to every UML process group and uml_switch process started from this state dir. */
/** Everything a test daemon on this state dir made on the host goes: its guests, bridges, TAPs, nftables tables, cgroups, the dir. */
export function leaveNothingOf(stateDir: string): void {
  killGuestsUnder(stateDir);
  sweepHostNetworking(stateDir);
  sweepCgroups(stateDir);
  rmSync(stateDir, { recursive: true, force: true });
}

export function killGuestsUnder(stateDir: string): void {
  // by process group: a helper whose group leader is gone is not a leader itself
  const groups = new Set(
    guestPids(stateDir)
      .map((p) => processGroup(p))
      .filter((g): g is number => g !== null),
  );
  for (const g of groups) kill(-g);
  for (const pid of guestPids(stateDir)) kill(pid);
  for (const pid of switchProcesses(`${stateDir}/net`)) kill(pid);
}

function kill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // gone
  }
}

/**
 * The cgroup parent of the daemon using this state dir (umld's default for
 * it). cgroup2 is one hierarchy however often mounted, and other runs share
 * it: a test finds its own guests' cgroups by this name, never by a prefix.
 */
export function cgroupParentOf(stateDir: string): string {
  return defaultCgroupParent(stateDir, (x) => createHash("sha256").update(x).digest("hex"));
}

/**
 * The cgroups a test daemon made (its parent and any guest, switch or spare
 * cgroup left in it): whatever still runs in them is killed (a standby
 * launcher of a SIGKILLed daemon ends on its own, but not at once), then they
 * are removed, waiting up to 3 s for the kernel to let go.
 */
export function sweepCgroups(stateDir: string): void {
  const parent = cgroupParentOf(stateDir);
  const dirs: string[] = [];
  // deepest first: a tenant's guests (t-<tenant>/<id>) before its level, every level before the parent;
  // a v1 or hybrid host: one hierarchy per directory under /sys/fs/cgroup; a v2 host: the parent right there
  const walk = (dir: string) => {
    for (const child of readdirSafe(dir)) if (isDir(`${dir}/${child}`)) walk(`${dir}/${child}`);
    if (isDir(dir)) dirs.push(dir);
  };
  for (const root of [...readdirSafe("/sys/fs/cgroup").map((h) => `/sys/fs/cgroup/${h}`), "/sys/fs/cgroup"]) walk(`${root}/${parent}`);
  for (const dir of dirs) {
    // each cgroup gets its own time: one slow to empty must not leave the others behind
    for (const deadline = Date.now() + 5000; ; ) {
      for (const pid of readFileSafe(`${dir}/cgroup.procs`).split("\n").filter(Boolean)) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // gone
        }
      }
      try {
        rmdirSync(dir);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT" || Date.now() > deadline) break;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      }
    }
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function readFileSafe(p: string): string {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return "";
  }
}

/** A guest's mconsole socket as the host reaches it: inside its jail, through /proc/<pid>/root. */
export function mconsolePath(stateDir: string, id: string, pid: number): string {
  return `/proc/${pid}/root${stateDir}/instances/${id}/run/${id}/mconsole`;
}

/** Live UML processes started from this state dir (optionally: of one instance id). */
export function guestPids(stateDir: string, umid?: string): number[] {
  return umlProcessesUnder(`${stateDir}/instances`, umid);
}

function readdirSafe(p: string): string[] {
  try {
    return readdirSync(p);
  } catch {
    return [];
  }
}

/** A console WebSocket with a byte buffer and waits on its text. */
export class ConsoleClient {
  private chunks: Buffer[] = [];
  private size = 0;
  private waiters: Array<(chunk: Buffer | null) => void> = [];
  closed: { code: number; reason: string } | null = null;

  constructor(readonly ws: WebSocket) {
    ws.on("message", (d: Buffer) => {
      this.chunks.push(d);
      this.size += d.length;
      for (const w of [...this.waiters]) w(d);
    });
    ws.on("close", (code, reason) => {
      this.closed = { code, reason: String(reason) };
      for (const w of [...this.waiters]) w(null);
    });
  }

  get bytes(): number {
    return this.size;
  }

  buffer(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.size)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  text(): string {
    return this.buffer().toString("latin1");
  }

  type(s: string): void {
    this.ws.send(Buffer.from(s));
  }

  /**
   * Waits until the output after byte `from` contains `needle`; returns the offset just past it.
   * Each frame is searched once (with an overlap for matches across frames): re-reading a
   * 20 MB console on every frame would make the test client the bottleneck.
   */
  waitFor(needle: string | RegExp, timeoutMs = 20_000, from = 0): Promise<number> {
    const overlap = 4096;
    const find = (t: string) => {
      if (typeof needle === "string") {
        const i = t.indexOf(needle);
        return i >= 0 ? i + needle.length : -1;
      }
      const r = needle.exec(t);
      return r ? r.index + r[0].length : -1;
    };
    return new Promise((resolve, reject) => {
      let base = from; // absolute offset of carry[0]
      let carry = this.buffer().toString("latin1", from);
      const first = find(carry);
      if (first >= 0) return resolve(base + first);
      if (carry.length > overlap) {
        base += carry.length - overlap;
        carry = carry.slice(-overlap);
      }
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== onChunk);
      };
      const onChunk = (chunk: Buffer | null) => {
        if (chunk === null) {
          done();
          return reject(new Error(`console closed (${this.closed?.code} ${this.closed?.reason}) before ${needle}`));
        }
        carry += chunk.toString("latin1");
        const at = find(carry);
        if (at >= 0) {
          done();
          return resolve(base + at);
        }
        if (carry.length > overlap) {
          base += carry.length - overlap;
          carry = carry.slice(-overlap);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`console did not show ${needle} within ${timeoutMs} ms; tail: ${JSON.stringify(this.text().slice(-400))}`));
      }, timeoutMs);
      this.waiters.push(onChunk);
    });
  }

  private runs = 0;

  /** Runs one shell command in the guest and returns what it printed (the shell must be at its prompt). */
  /** Runs `cmd` until its output matches (things the guest does by itself, e.g. configuring a hot-added NIC). */
  async runUntil(cmd: string, re: RegExp, timeoutMs = 10_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const out = await this.run(cmd);
      if (re.test(out)) return out;
      if (Date.now() > end) throw new Error(`'${cmd}' never matched ${re}: ${out}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async run(cmd: string, timeoutMs = 20_000): Promise<string> {
    const n = ++this.runs;
    const from = this.bytes;
    // the marker is computed by the guest, so the echoed command line never matches it
    this.type(`${cmd}; echo "<<done-$((${n}*1000+7))>>"\n`);
    const end = await this.waitFor(`<<done-${n * 1000 + 7}>>`, timeoutMs, from);
    const text = this.buffer()
      .toString("latin1", from, end - `<<done-${n * 1000 + 7}>>`.length)
      .replace(/\r/g, "");
    const lines = text.split("\n");
    return lines.slice(1).join("\n"); // drop the echoed command line
  }

  close(): void {
    this.ws.close();
  }
}
