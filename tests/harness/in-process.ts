import { mkdtempSync, rmSync } from "node:fs";
import pino from "pino";
import { daemonLogger } from "../../daemon/logger.js";
import { UmldClient } from "../../client/client.js";
import type { Transport } from "../../client/transport.js";
import { parseConfig, type DaemonConfig } from "../../daemon/config.js";
import { startDaemon, type RunningDaemon } from "../../daemon/daemon.js";
import { FakeSupervisorThread } from "../fakes/fake-supervisor.js";
import { assertConforms, sweepCgroups, testGuestIds, type ApiResult } from "./daemon.js";

/**
 * The in-process tier: the whole daemon (routes, auth, commands, core, SQLite,
 * the catalogue) in this process, requests injected into its HTTP app, and a
 * fake supervisor thread behind every guest (tests/fakes/fake-supervisor.ts):
 * no UML, no worker threads, no firewall changes. Every answer is checked
 * against the contract, as in the real-UML tier.
 */
export class InProcessDaemon {
  private constructor(
    readonly stateDir: string,
    /** every fake supervisor thread made so far, in order (the pool keeps one spare) */
    readonly threads: FakeSupervisorThread[],
    readonly daemon: RunningDaemon,
    readonly token: string,
  ) {}

  /**
   * `log`: the daemon's log lines are collected there, through umld's own logger at `logLevel` (default: no log).
   * `listen`: also on a loopback TCP port (WebSockets and browsers need a real socket). `args`: more command-line options.
   */
  static async start(opts: { log?: string[]; logLevel?: string; listen?: boolean; args?: string[] } = {}): Promise<InProcessDaemon> {
    const stateDir = mkdtempSync("/tmp/umld-t-");
    const cfg = parseConfig(["--state-dir", stateDir, "--listen", opts.listen ? "127.0.0.1:0" : "none", "--guest-ids", testGuestIds(stateDir), ...(opts.args ?? [])]) as DaemonConfig;
    const threads: FakeSupervisorThread[] = [];
    const thread = () => {
      const t = new FakeSupervisorThread();
      threads.push(t);
      return t;
    };
    const sink = opts.log;
    const log = sink ? daemonLogger(opts.logLevel ?? "trace", { write: (line: string) => void sink.push(line) }) : pino({ level: "silent" });
    const daemon = await startDaemon(cfg, log, { thread, guestFilter: false });
    return new InProcessDaemon(stateDir, threads, daemon, daemon.services.adminToken);
  }

  /** The loopback base URL (started with `listen`). */
  get url(): string {
    const tcp = this.daemon.tcp;
    if (!tcp) throw new Error("started without listen");
    return `http://${tcp.host}:${tcp.port}`;
  }

  get services() {
    return this.daemon.services;
  }

  async api<T = any>(method: string, path: string, body?: unknown, opts: { token?: string | null; headers?: Record<string, string> } = {}): Promise<ApiResult<T>> {
    const headers: Record<string, string> = { ...opts.headers };
    const token = opts.token === undefined ? this.token : opts.token;
    if (token) headers.authorization = `Bearer ${token}`;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) headers["content-type"] = "application/json";
    const res = await this.daemon.app.inject({ method: method as "GET", url: path, headers, ...(payload === undefined ? {} : { payload }) });
    const answer = { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null };
    assertConforms(method, path, answer);
    return answer;
  }

  /** The typed client over inject() (as admin, or with `token`). */
  client(token: string | null = this.token): UmldClient {
    const transport: Transport = async (req) => {
      const res = await this.daemon.app.inject({ method: req.method as "GET", url: req.path, headers: req.headers, ...(req.body === undefined ? {} : { payload: req.body }) });
      return { status: res.statusCode, text: res.body };
    };
    return new UmldClient({ transport, token });
  }

  /** A tenant and a token for it with these rights (default: all a tenant may have). */
  async tenant(name: string, actions?: string[], quotas: Record<string, number> = {}): Promise<string> {
    const t = await this.api("POST", "/v1/tenants", { name, quotas });
    if (t.status !== 201 && t.body?.error?.code !== "tenant_exists") throw new Error(`tenant ${name}: ${JSON.stringify(t.body)}`);
    const tok = await this.api("POST", `/v1/tenants/${name}/tokens`, { name: `t${Math.random().toString(36).slice(2, 8)}`, ...(actions ? { actions } : {}) });
    if (tok.status !== 201) throw new Error(`token for ${name}: ${JSON.stringify(tok.body)}`);
    return tok.body.token as string;
  }

  async stop(): Promise<void> {
    await this.daemon.close();
    sweepCgroups(this.stateDir);
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}
