import { request as httpRequest, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Transport } from "../transport.js";

function exchange(https: boolean, opts: RequestOptions, body: string | undefined): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Requests over the daemon's unix socket (root, no token): umlctl's local use. */
export function socketTransport(socketPath: string): Transport {
  return (r) => exchange(false, { socketPath, path: r.path, method: r.method, headers: r.headers }, r.body);
}

/**
 * Requests over TCP through node:http(s); `ca` replaces the trusted CAs
 * (fetch cannot be given one), else https trusts the system's and NODE_EXTRA_CA_CERTS.
 */
export function nodeTransport(baseUrl: string, opts: { ca?: Buffer | string } = {}): Transport {
  const base = new URL(baseUrl);
  const https = base.protocol === "https:";
  return (r) => {
    const u = new URL(r.path, base);
    return exchange(https, { host: u.hostname, port: u.port, path: u.pathname + u.search, method: r.method, headers: r.headers, ...(opts.ca ? { ca: opts.ca } : {}) }, r.body);
  };
}
