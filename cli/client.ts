import { request, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import WebSocket from "ws";
import type { ErrorBody } from "../protocol/errors.js";
import { routes, type Routes, type RouteName } from "../protocol/routes.js";
import { API_PREFIX } from "../protocol/version.js";
import type { z } from "zod";

/** The unix socket (root), or TCP with a token (https: trusts the system CAs and NODE_EXTRA_CA_CERTS). `tenant`: an admin acting for one. */
export type Target = ({ socketPath: string } | { url: string; token: string | null }) & { tenant?: string };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody["error"],
  ) {
    super(`${body.code}: ${body.message}`);
  }
}

type Out<N extends RouteName> = z.output<Routes[N]["response"]>;
type CallArgs = { params?: Record<string, string>; query?: Record<string, string>; body?: unknown };

/** A client typed from protocol/routes.ts: the same table the daemon registers its routes from. */
export class UmldClient {
  constructor(readonly target: Target) {}

  call<N extends RouteName>(name: N, args: CallArgs = {}): Promise<Out<N>> {
    const def = routes[name];
    let path = API_PREFIX + def.path.replace(/:(\w+)/g, (_, k: string) => encodeURIComponent(args.params?.[k] ?? ""));
    if (args.query && Object.keys(args.query).length) path += `?${new URLSearchParams(args.query)}`;
    return this.raw(def.method, path, args.body) as Promise<Out<N>>;
  }

  raw(method: string, path: string, body?: unknown): Promise<unknown> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers = this.headers();
    if (payload !== undefined) headers["content-type"] = "application/json";
    let opts: RequestOptions;
    let tls = false;
    if ("socketPath" in this.target) {
      opts = { socketPath: this.target.socketPath, path, method, headers };
    } else {
      const u = new URL(path, this.target.url);
      tls = u.protocol === "https:";
      opts = { host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers };
    }
    return new Promise((resolve, reject) => {
      const req = (tls ? httpsRequest : request)(opts, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: unknown = null;
          try {
            json = text ? JSON.parse(text) : null;
          } catch {
            return reject(new Error(`daemon answered ${res.statusCode} with non-JSON: ${text.slice(0, 200)}`));
          }
          if ((res.statusCode ?? 500) >= 400) return reject(new ApiError(res.statusCode ?? 500, (json as ErrorBody).error));
          resolve(json);
        });
      });
      req.on("error", reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  websocket(path: string): WebSocket {
    if ("socketPath" in this.target) return new WebSocket(`ws+unix://${this.target.socketPath}:${API_PREFIX}${path}`, { headers: this.headers() });
    return new WebSocket(this.target.url.replace(/^http/, "ws") + API_PREFIX + path, { headers: this.headers() });
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = {};
    if ("token" in this.target && this.target.token) h.authorization = `Bearer ${this.target.token}`;
    if (this.target.tenant) h["umld-tenant"] = this.target.tenant;
    return h;
  }
}
