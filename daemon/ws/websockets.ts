import { STATUS_CODES, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { OwnedName } from "../../protocol/names.js";
import { localRequests } from "../auth/principals.js";
import { auditedByGate, type Gate } from "../auth/gate.js";
import { checkOrigin, selectProtocol, webSocketBearer } from "../auth/websocket-credentials.js";
import type { Scope } from "../auth/scope.js";
import { ConsoleChannel } from "../../protocol/guest.js";
import { EventsQuery, type Event } from "../../protocol/events.js";
import { validationError } from "../http/errors.js";
import { API_PREFIX } from "../../protocol/version.js";
import { UmldError } from "../../core/errors.js";
import type { Services } from "../services.js";
import { toErrorResponse } from "../http/errors.js";
import { keepAlive } from "./keep-alive.js";
import { REPLAY_PAGE } from "../../core/events/journal.js";
import { DEFAULT_SESSION_LIMITS, Sessions, SLOW_READER_GRACE_MS, type Session, type SessionLimits } from "./sessions.js";

const MAX_MESSAGE_BYTES = 64 * 1024;
/** An events reader further behind than this is dropped (1013): the daemon never buffers much for one reader. */
export const MAX_EVENT_BACKLOG = 1024 * 1024;
/** Live events held back per socket while it replays; past it the reader is dropped (1013) and reconnects with since. */
const MAX_HELD_EVENTS = 100_000;
/** Console input on its way to the supervisor, per socket: past it the socket is not read until the worker caught up. */
const MAX_INPUT_IN_FLIGHT = 256 * 1024;

/**
 * WebSocket endpoints: /v1/events (JSON text frames) and
 * /v1/instances/:name/console (binary both ways; scrollback first).
 * Authentication and rate limiting happen in the upgrade (the same gate as
 * HTTP requests; the token from Authorization or a browser's subprotocol),
 * before any frame, and a browser page of another origin is refused; each
 * open socket is a session that ends when its rights do (see Sessions).
 */
export class WebSockets {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, handleProtocols: selectProtocol });
  readonly sessions: Sessions;

  constructor(
    private readonly s: Services,
    private readonly gate: Gate,
    limits: SessionLimits = DEFAULT_SESSION_LIMITS,
  ) {
    this.sessions = new Sessions(limits, s.tenants, s.log);
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    let scope: Scope | null = null;
    let object: string | null = null;
    let action = "websocket.attach";
    const local = localRequests.has(req);
    try {
      const url = new URL(req.url ?? "/", "http://umld");
      if (url.pathname === `${API_PREFIX}/events`) action = "events.attach";
      const m = new RegExp(`^${API_PREFIX}/instances/([^/]+)/console$`).exec(url.pathname);
      if (m) action = "console.attach";
      const sc = (scope = this.gate.admit(req, action, null, webSocketBearer(req)));
      if (!local) checkOrigin(req);
      if (action === "events.attach") {
        sc.authorize({ access: "read" });
        const q = EventsQuery.safeParse(Object.fromEntries(url.searchParams));
        if (!q.success) throw validationError("query", q.error);
        if (q.data.since !== undefined) this.s.journal.checkSince(q.data.since); // 410 before the upgrade, not a closed socket after it
        this.sessions.admit(sc.principal, local, "events", null);
        this.wss.handleUpgrade(req, socket, head, (ws) => this.events(ws, sc, this.sessions.open(ws, sc.principal, local, "events"), q.data));
        return;
      }
      if (m) {
        const parsed = OwnedName.safeParse(decodeURIComponent(m[1]!));
        if (!parsed.success) throw new UmldError("invalid_request", "invalid instance name", { name: m[1] });
        sc.authorize({ access: "console" });
        const name = sc.qualify(parsed.data);
        object = `instances/${name}`;
        this.s.instances.get(name); // 404 before the upgrade
        const replay = url.searchParams.get("scrollback") !== "0";
        const ch = url.searchParams.get("channel");
        let channel: string | undefined;
        if (ch !== null) {
          const parsed = ConsoleChannel.safeParse(ch);
          if (!parsed.success) throw new UmldError("invalid_request", "channel must be con1..con15 or ssl0..ssl63", { channel: ch });
          if (!this.s.instances.io.listChannels(name).some((c) => c.channel === parsed.data)) {
            throw new UmldError("channel_not_found", `instance '${name}' has no channel ${parsed.data}`, { channel: parsed.data });
          }
          channel = parsed.data;
        }
        this.sessions.admit(sc.principal, local, "console", name);
        this.audit(req, sc, action, object, 101, "ok");
        this.wss.handleUpgrade(req, socket, head, (ws) => this.console(ws, this.sessions.open(ws, sc.principal, local, "console", name), name, replay, channel));
        return;
      }
      throw new UmldError("route_not_found", `no WebSocket endpoint at ${url.pathname}`);
    } catch (e) {
      const { status, body } = toErrorResponse(e);
      if (!auditedByGate.has(req) && (object || status === 401 || status === 403 || status === 429)) this.audit(req, scope, action, object, status, body.error.code);
      rejectUpgrade(socket, e, scope);
    }
  }

  private audit(req: IncomingMessage, scope: Scope | null, action: string, object: string | null, status: number, outcome: string): void {
    this.s.tenants.audit({
      principal: scope?.principal.label ?? "anonymous",
      tenant: scope?.principal.tenant ?? null,
      action,
      object,
      status,
      outcome,
      remote: localRequests.has(req) ? "local" : (req.socket.remoteAddress ?? null),
    });
  }

  /**
   * Live events, after a replay of the journal from `since` when asked: the
   * bus is listened to first and what it publishes meanwhile is held back,
   * then sent after the replay without the ones the replay already had, so a
   * reconnecting client gets each event it missed exactly once, in seq order.
   */
  private events(ws: WebSocket, scope: Scope, session: Session, q: EventsQuery): void {
    const idle = keepAlive(ws);
    const types = q.type ? new Set<string>(q.type) : null;
    let cursor = q.since ?? Infinity; // replaying: events up to the cursor went out already
    let held: Event[] | null = q.since === undefined ? null : [];
    const send = (e: Event): boolean => {
      if (types && !types.has(e.type)) return true;
      const visible = scope.event(e as unknown as Record<string, unknown>);
      if (!visible) return true;
      if (ws.bufferedAmount > MAX_EVENT_BACKLOG) {
        session.end(1013, "event consumer too slow", SLOW_READER_GRACE_MS);
        return false;
      }
      idle.touch();
      ws.send(JSON.stringify(visible));
      return true;
    };
    const onEvent = (e: Event) => {
      if (held) {
        held.push(e);
        if (held.length > MAX_HELD_EVENTS) session.end(1013, "events arrive faster than the replay can catch up", SLOW_READER_GRACE_MS);
      } else if (e.seq > cursor || cursor === Infinity) send(e);
    };
    this.s.bus.on("event", onEvent);
    session.onEnd(() => this.s.bus.off("event", onEvent));
    ws.on("error", () => ws.terminate());
    if (held === null) return;
    const replay = async () => {
      for (;;) {
        if (session.ended) return;
        const page = this.s.journal.page(cursor, { subjectPrefix: scope.prefix, types: q.type ?? null });
        for (const e of page) {
          if (!send(e)) return;
          cursor = e.seq;
        }
        if (page.length < REPLAY_PAGE) break;
        // a page at a time: a replay that sends little (another tenant's journal, a type filter) never holds the event loop for the whole journal
        await new Promise((r) => setImmediate(r));
        // let the socket drain between pages: a long replay never piles up in memory
        while (ws.bufferedAmount > MAX_EVENT_BACKLOG / 4 && !session.ended) await new Promise((r) => setTimeout(r, 10));
      }
      const rest = held ?? [];
      held = null;
      for (const e of rest) if (e.seq > cursor && !send(e)) return;
      cursor = Math.max(cursor, rest.at(-1)?.seq ?? 0);
    };
    replay().catch((e: unknown) => session.end(1011, toErrorResponse(e).body.error.message.slice(0, 120)));
  }

  private console(ws: WebSocket, session: Session, name: string, replay: boolean, channel?: string): void {
    let attached: ReturnType<Services["instances"]["io"]["attachConsole"]>;
    const idle = keepAlive(ws);
    try {
      attached = this.s.instances.io.attachConsole(
        name,
        {
          send: (data) => {
            idle.touch();
            ws.send(data, { binary: true });
          },
          backlog: () => ws.bufferedAmount,
          close: (code, reason) => session.end(code, reason, code === 1013 ? SLOW_READER_GRACE_MS : undefined),
        },
        replay,
        channel,
      );
    } catch (e) {
      session.end(1011, toErrorResponse(e).body.error.message.slice(0, 120));
      return;
    }
    this.s.log.info({ instance: name, channel: channel ?? "con0" }, "console attached");
    session.onEnd(() => {
      attached.detach();
      this.s.log.info({ instance: name }, "console detached");
    });
    let inFlight = 0;
    ws.on("message", (data: Buffer | ArrayBuffer | Buffer[]) => {
      if (session.ended) return; // closing: a revoked or dropped writer types nothing more
      idle.touch();
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      inFlight += buf.length;
      if (inFlight > MAX_INPUT_IN_FLIGHT) ws.pause(); // backpressure: the peer's TCP window fills, not our memory
      const settle = (taken: boolean) => {
        inFlight -= buf.length;
        if (!taken) return session.end(1013, "console input dropped: the guest is not reading it");
        if (ws.isPaused && inFlight <= MAX_INPUT_IN_FLIGHT / 2 && !session.ended) ws.resume();
      };
      attached.input(buf).then(settle, () => settle(true));
    });
    ws.on("error", () => ws.terminate());
  }

  close(): void {
    this.sessions.close(1001, "daemon stopping");
    this.wss.close();
  }
}

function rejectUpgrade(socket: Duplex, e: unknown, scope: Scope | null): void {
  const r = toErrorResponse(e);
  const status = r.status;
  const body = scope ? scope.present(r.body) : r.body;
  const json = JSON.stringify(body);
  const retry = status === 429 ? `Retry-After: ${(r.body.error.details as { retryAfterS?: number } | undefined)?.retryAfterS ?? 60}\r\n` : "";
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\n` + `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n${retry}Connection: close\r\n\r\n${json}`);
}
