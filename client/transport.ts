/** One HTTP exchange as the client sees it: a path under the daemon's root, JSON text both ways. */
export interface HttpRequest {
  method: string;
  /** path and query, e.g. /v1/instances?x=1 */
  path: string;
  headers: Record<string, string>;
  body?: string;
}
export interface HttpResponse {
  status: number;
  text: string;
}
/** How requests reach the daemon: fetch (HTTP/HTTPS, browsers), or client/node's unix socket and custom-CA transports. */
export type Transport = (req: HttpRequest) => Promise<HttpResponse>;

/** The part of fetch a transport needs (the global one, or an injected one). */
export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body?: string }) => Promise<{ status: number; text(): Promise<string> }>;

/** Requests through fetch to `baseUrl` (e.g. https://host:7070). */
export function fetchTransport(baseUrl: string, fetchImpl: FetchLike = (url, init) => fetch(url, init)): Transport {
  const base = baseUrl.replace(/\/+$/, "");
  return async (req) => {
    const res = await fetchImpl(base + req.path, { method: req.method, headers: req.headers, ...(req.body === undefined ? {} : { body: req.body }) });
    return { status: res.status, text: await res.text() };
  };
}
