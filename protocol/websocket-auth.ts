/**
 * WebSocket authentication for browsers, which cannot set `Authorization` on
 * a WebSocket: the client offers two subprotocols, `umld.v1` and
 * `umld.bearer.<base64url of the token>`; the daemon authenticates the second
 * and selects the first, so the token is never echoed (the scheme Kubernetes
 * uses for its API server). Other clients may keep sending `Authorization`.
 */
export const WS_PROTOCOL = "umld.v1";
export const WS_BEARER_PREFIX = "umld.bearer.";
