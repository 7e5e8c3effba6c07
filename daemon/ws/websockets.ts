import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { OwnedName } from "../../protocol/names.js";
import { resolvePrincipal, localRequests } from "../auth/principals.js";
import { Scope } from "../auth/scope.js";
import { ConsoleChannel } from "../../protocol/guest.js";
import { API_PREFIX } from "../../protocol/version.js";
import { UmldError } from "../../core/errors.js";
import type { Services } from "../services.js";
import { toErrorResponse } from "../http/errors.js";

const MAX_MESSAGE_BYTES = 64 * 1024;
const MAX_EVENT_BACKLOG = 8 * 1024 * 1024;
/** A console nobody typed into or read from for this long is closed (1001); pings keep a quiet one open. */
const IDLE_TIMEOUT_MS = 30 * 60_000;
const PING_EVERY_MS = 30_000;

/**
 * WebSocket endpoints: /v1/events (JSON text frames) and
 * /v1/instances/:name/console (binary both ways; scrollback first).
 * Authentication happens in the upgrade, before any frame.
 */
export class WebSockets {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });

  constructor(private readonly s: Services) {}

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    let scope: Scope | null = null;
    let object: string | null = null;
    let action = "websocket.attach";
    try {
      const url = new URL(req.url ?? "/", "http://umld");
      if (url.pathname === `${API_PREFIX}/events`) action = "events.attach";
      const m = new RegExp(`^${API_PREFIX}/instances/([^/]+)/console$`).exec(url.pathname);
      if (m) action = "console.attach";
      const sc = (scope = new Scope(resolvePrincipal(req, this.s.adminToken, this.s.tenants)));
      if (action === "events.attach") {
        sc.authorize({ access: "read" });
        this.wss.handleUpgrade(req, socket, head, (ws) => this.events(ws, sc));
        return;
      }
      if (m) {
        const parsed = OwnedName.safeParse(decodeURIComponent(m[1]!));
        if (!parsed.success) throw new UmldError("invalid_request", "invalid instance name", { name: m[1] });
        sc.authorize({ access: "console" });
        const name = sc.qualify(parsed.data);
        object = `instances/${name}`;
        this.s.manager.get(name); // 404 before the upgrade
        const replay = url.searchParams.get("scrollback") !== "0";
        const ch = url.searchParams.get("channel");
        let channel: string | undefined;
        if (ch !== null) {
          const parsed = ConsoleChannel.safeParse(ch);
          if (!parsed.success) throw new UmldError("invalid_request", "channel must be con1..con15 or ssl0..ssl63", { channel: ch });
          if (!this.s.manager.listChannels(name).some((c) => c.channel === parsed.data)) {
            throw new UmldError("channel_not_found", `instance '${name}' has no channel ${parsed.data}`, { channel: parsed.data });
          }
          channel = parsed.data;
        }
        this.audit(req, sc, action, object, 101, "ok");
        this.wss.handleUpgrade(req, socket, head, (ws) => this.console(ws, name, replay, channel));
        return;
      }
      throw new UmldError("route_not_found", `no WebSocket endpoint at ${url.pathname}`);
    } catch (e) {
      const { status, body } = toErrorResponse(e);
      if (object || status === 401 || status === 403) this.audit(req, scope, action, object, status, body.error.code);
      rejectUpgrade(socket, e, scope);
    }
  }

  private audit(req: IncomingMessage, scope: Scope | null, action: string, object: string | null, status: number, outcome: string): void {
    this.s.tenants.audit({
      principal: scope?.principal.label ?? "anonymous", tenant: scope?.principal.tenant ?? null, action,
      object, status, outcome, remote: localRequests.has(req) ? "local" : (req.socket.remoteAddress ?? null),
    });
  }

  private events(ws: WebSocket, scope: Scope): void {
    keepAlive(ws);
    const onEvent = (e: unknown) => {
      const visible = scope.event(e as Record<string, unknown>);
      if (!visible) return;
      if (ws.bufferedAmount > MAX_EVENT_BACKLOG) {
        ws.close(1013, "event consumer too slow");
        return;
      }
      ws.send(JSON.stringify(visible));
    };
    this.s.bus.on("event", onEvent);
    ws.on("close", () => this.s.bus.off("event", onEvent));
    ws.on("error", () => ws.terminate());
  }

  private console(ws: WebSocket, name: string, replay: boolean, channel?: string): void {
    let attached: ReturnType<Services["manager"]["attachConsole"]>;
    const idle = keepAlive(ws);
    try {
      attached = this.s.manager.attachConsole(name, {
        send: (data) => {
          idle.touch();
          ws.send(data, { binary: true });
        },
        backlog: () => ws.bufferedAmount,
        close: (code, reason) => ws.close(code, reason),
      }, replay, channel);
    } catch (e) {
      ws.close(1011, toErrorResponse(e).body.error.message.slice(0, 120));
      return;
    }
    this.s.log.info({ instance: name, channel: channel ?? "con0" }, "console attached");
    ws.on("message", (data: Buffer | ArrayBuffer | Buffer[]) => {
      idle.touch();
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      attached.input(buf);
    });
    ws.on("close", () => {
      attached.detach();
      this.s.log.info({ instance: name }, "console detached");
    });
    ws.on("error", () => ws.terminate());
  }

  close(): void {
    for (const c of this.wss.clients) c.close(1001, "daemon stopping");
    this.wss.close();
  }
}

/** Pings every 30 s (a dead peer is terminated) and closes a connection idle for IDLE_TIMEOUT_MS. */
function keepAlive(ws: WebSocket): { touch(): void } {
  let alive = true;
  let last = Date.now();
  ws.on("pong", () => (alive = true));
  const timer = setInterval(() => {
    if (!alive) return ws.terminate();
    if (Date.now() - last > IDLE_TIMEOUT_MS) return ws.close(1001, "idle");
    alive = false;
    ws.ping();
  }, PING_EVERY_MS);
  timer.unref();
  ws.on("close", () => clearInterval(timer));
  return { touch: () => (last = Date.now()) };
}

function rejectUpgrade(socket: Duplex, e: unknown, scope: Scope | null): void {
  const r = toErrorResponse(e);
  const status = r.status;
  const body = scope ? scope.present(r.body) : r.body;
  const json = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${status === 401 ? "Unauthorized" : status === 403 ? "Forbidden" : status === 404 ? "Not Found" : "Error"}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`,
  );
}
