import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { Name } from "../../protocol/names.js";
import { ConsoleChannel } from "../../protocol/guest.js";
import { API_PREFIX } from "../../protocol/version.js";
import { UmldError } from "../../core/errors.js";
import type { Services } from "../services.js";
import { toErrorResponse } from "../http/errors.js";

const MAX_MESSAGE_BYTES = 1024 * 1024;
const MAX_EVENT_BACKLOG = 8 * 1024 * 1024;

/**
 * WebSocket endpoints: /v1/events (JSON text frames) and
 * /v1/instances/:name/console (binary both ways; scrollback first).
 * Authentication happens in the upgrade, before any frame.
 */
export class WebSockets {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });

  constructor(private readonly s: Services) {}

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, authenticated: boolean): void {
    try {
      if (!authenticated) throw new UmldError("unauthorized", "missing or invalid bearer token");
      const url = new URL(req.url ?? "/", "http://umld");
      if (url.pathname === `${API_PREFIX}/events`) {
        this.wss.handleUpgrade(req, socket, head, (ws) => this.events(ws));
        return;
      }
      const m = new RegExp(`^${API_PREFIX}/instances/([^/]+)/console$`).exec(url.pathname);
      if (m) {
        const name = Name.safeParse(decodeURIComponent(m[1]!));
        if (!name.success) throw new UmldError("invalid_request", "invalid instance name", { name: m[1] });
        this.s.manager.get(name.data); // 404 before the upgrade
        const replay = url.searchParams.get("scrollback") !== "0";
        const ch = url.searchParams.get("channel");
        let channel: string | undefined;
        if (ch !== null) {
          const parsed = ConsoleChannel.safeParse(ch);
          if (!parsed.success) throw new UmldError("invalid_request", "channel must be con1..con15 or ssl0..ssl63", { channel: ch });
          if (!this.s.manager.listChannels(name.data).some((c) => c.channel === parsed.data)) {
            throw new UmldError("channel_not_found", `instance '${name.data}' has no channel ${parsed.data}`, { channel: parsed.data });
          }
          channel = parsed.data;
        }
        this.wss.handleUpgrade(req, socket, head, (ws) => this.console(ws, name.data, replay, channel));
        return;
      }
      throw new UmldError("route_not_found", `no WebSocket endpoint at ${url.pathname}`);
    } catch (e) {
      rejectUpgrade(socket, e);
    }
  }

  private events(ws: WebSocket): void {
    const onEvent = (e: unknown) => {
      if (ws.bufferedAmount > MAX_EVENT_BACKLOG) {
        ws.close(1013, "event consumer too slow");
        return;
      }
      ws.send(JSON.stringify(e));
    };
    this.s.bus.on("event", onEvent);
    ws.on("close", () => this.s.bus.off("event", onEvent));
    ws.on("error", () => ws.terminate());
  }

  private console(ws: WebSocket, name: string, replay: boolean, channel?: string): void {
    let attached: ReturnType<Services["manager"]["attachConsole"]>;
    try {
      attached = this.s.manager.attachConsole(name, {
        send: (data) => ws.send(data, { binary: true }),
        backlog: () => ws.bufferedAmount,
        close: (code, reason) => ws.close(code, reason),
      }, replay, channel);
    } catch (e) {
      ws.close(1011, toErrorResponse(e).body.error.message.slice(0, 120));
      return;
    }
    this.s.log.info({ instance: name, channel: channel ?? "con0" }, "console attached");
    ws.on("message", (data: Buffer | ArrayBuffer | Buffer[]) => {
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

function rejectUpgrade(socket: Duplex, e: unknown): void {
  const { status, body } = toErrorResponse(e);
  const json = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${status === 401 ? "Unauthorized" : status === 404 ? "Not Found" : "Error"}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`,
  );
}
