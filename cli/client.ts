import WebSocket from "ws";
import { UmldClient } from "../client/client.js";
import { nodeTransport, socketTransport } from "../client/node/transports.js";
import { API_PREFIX } from "../protocol/version.js";

export { ApiError, ProtocolError } from "../client/errors.js";

/** The unix socket (root), or TCP with a token (https: trusts the system CAs and NODE_EXTRA_CA_CERTS). `tenant`: an admin acting for one. */
export type Target = ({ socketPath: string } | { url: string; token: string | null }) & { tenant?: string };

/** umlctl's client: the typed client of client/ over the unix socket or TCP, plus WebSockets through `ws`. */
export class CliClient extends UmldClient {
  constructor(readonly target: Target) {
    super({
      transport: "socketPath" in target ? socketTransport(target.socketPath) : nodeTransport(target.url),
      token: "token" in target ? target.token : null,
      ...(target.tenant ? { tenant: target.tenant } : {}),
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
