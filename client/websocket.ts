import { WS_BEARER_PREFIX, WS_PROTOCOL } from "../protocol/websocket-auth.js";

/** base64url without padding: every character is one a subprotocol name may hold. */
function base64url(text: string): string {
  let bin = "";
  for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The subprotocols a browser offers to open a WebSocket as `token`: `new WebSocket(url, webSocketProtocols(token))`. */
export function webSocketProtocols(token: string): string[] {
  return [WS_PROTOCOL, WS_BEARER_PREFIX + base64url(token)];
}
