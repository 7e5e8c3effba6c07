import type { FastifyReply, FastifyRequest } from "fastify";
import type { IncomingMessage } from "node:http";
import { UmldError } from "../../core/errors.js";
import type { FleetMember } from "../../core/fleet/fleet.js";
import { checkPinned, place } from "../../core/fleet/placement.js";
import { bodyMatches, FLEET_HEADER, FleetAuthError, type FleetClaim, forwardedOf, principalOf } from "../../core/fleet/peer-auth.js";
import type { Principal } from "../../core/tenants/principal.js";
import { contract, type RouteName } from "../../protocol/contract.js";
import { ERRORS, type ErrorCode } from "../../protocol/errors.js";
import type { Scope } from "../auth/scope.js";

/** Requests another host of the fleet sent (their signature verified): served here, never forwarded again. */
export const peerRequests = new WeakMap<IncomingMessage, FleetClaim>();

export interface PeerAnswer {
  status: number;
  body: unknown;
}

/** A peer request's principal, if its fleet header verifies for this host, method and path; throws unauthorized otherwise. */
export function verifyPeer(m: FleetMember, req: IncomingMessage, header: string): Principal {
  try {
    const claim = m.peer.verify(header, req.method ?? "GET", req.url ?? "/");
    if (!claim.principal) throw new FleetAuthError("a peer request names no caller");
    peerRequests.set(req, claim);
    return principalOf(claim.principal, claim.from);
  } catch (e) {
    if (e instanceof FleetAuthError) throw new UmldError("unauthorized", `fleet request refused: ${e.message}`);
    throw e;
  }
}

/** The body a peer request arrived with must be the one its sender signed (checked once fastify parsed it). */
export function checkPeerBody(req: FastifyRequest): void {
  const claim = peerRequests.get(req.raw);
  // a file streamed between hosts: its size and sha256 are in the signed path, checked as it is written
  if (claim && typeof (req.body as { pipe?: unknown } | undefined)?.pipe === "function") {
    if (claim.bodySha256 !== "") throw new UmldError("unauthorized", "fleet request refused: a streamed body is signed by its query");
    return;
  }
  if (claim && !bodyMatches(claim, req.body === undefined ? null : JSON.stringify(req.body))) throw new UmldError("unauthorized", "fleet request refused: the body is not the one signed");
}

/** Sends a request to another host of the fleet for `principal`, signed with the fleet secret. */
export async function callPeer(m: FleetMember, host: string, method: string, path: string, body: unknown, principal: Principal, timeoutMs: number): Promise<PeerAnswer> {
  const target = m.fleet.upHost(host);
  if (!target) throw new UmldError("host_unreachable", `host '${host}' of the fleet is lost: nothing was done there (docs/fleet.md)`, { host });
  const payload = body === undefined ? null : JSON.stringify(body);
  const headers: Record<string, string> = { [FLEET_HEADER]: m.peer.sign(host, method, path, payload, forwardedOf(principal)) };
  if (payload !== null) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(`${target.url}${path}`, { method, headers, body: payload ?? undefined, signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    throw new UmldError("host_unreachable", `host '${host}' of the fleet did not answer: ${(e as Error).message}`, { host });
  }
  const text = await res.text();
  const json = (res.headers.get("content-type") ?? "").startsWith("application/json");
  return { status: res.status, body: json && text ? (JSON.parse(text) as unknown) : text };
}

/** A peer's error answer, thrown here as the same error (its code, message and details). */
export function rethrow(a: PeerAnswer, host: string): never {
  const e = (a.body as { error?: { code?: string; message?: string; details?: unknown } } | null)?.error;
  if (e?.code && e.code in ERRORS) throw new UmldError(e.code as ErrorCode, e.message ?? e.code, e.details);
  throw new UmldError("host_unreachable", `host '${host}' answered ${a.status} without an error body`, { host, status: a.status });
}

/** Routes that act on one instance, named in the path: served by the host that holds it. */
const instanceRoute = (name: RouteName) => contract[name].path.startsWith("/instances/:name");

/** The host that serves a request: the named instance's, or for a create the pinned or placed one (null: this host, or not an instance's request). */
function targetOf(m: FleetMember, name: RouteName, req: FastifyRequest, scope: Scope, rawName: unknown): string | null {
  if (name === "createInstance") {
    const b = (req.body ?? {}) as { host?: string; memoryMiB?: number; maxMemoryMiB?: number };
    if (b.host !== undefined && scope.principal.kind !== "admin") throw new UmldError("forbidden", "the host of a new instance is chosen by admins", { needs: "admin", field: "host" });
    const hosts = m.fleet.hosts();
    return b.host !== undefined ? checkPinned(hosts, b.host) : place(hosts, b.maxMemoryMiB ?? b.memoryMiB ?? 64);
  }
  if (!instanceRoute(name) || typeof rawName !== "string") return null;
  return m.fleet.ownerOf(scope.qualify(rawName));
}

/** A forwarded request's answer, or null: the request is this host's to serve. A peer's request is always served where it arrived. */
export async function forwardToOwner(m: FleetMember, name: RouteName, req: FastifyRequest, reply: FastifyReply, scope: Scope, rawName: unknown): Promise<{ body: unknown } | null> {
  if (peerRequests.has(req.raw)) return null;
  const target = targetOf(m, name, req, scope, rawName);
  if (target === null || target === m.fleet.name) return null;
  // a create names its host, so the host it goes to knows it was placed there
  const body = name === "createInstance" ? { ...(req.body as object), host: target } : req.body;
  // a lifecycle action may wait for a guest's boot or shutdown: the peer's own timeouts end it first
  const a = await callPeer(m, target, req.method, req.url, body, scope.principal, 15 * 60_000);
  if (a.status >= 400) rethrow(a, target);
  reply.code(a.status);
  return { body: a.body };
}

/** Every host's instances for this caller: this host's, each other up host's (asked with the caller's identity), and, by name, those of hosts that are lost or did not answer. */
export async function fleetInstances<V extends { name: string }>(m: FleetMember, scope: Scope, local: V[]): Promise<{ instances: V[]; unreachable: Array<{ host: string; instances: string[] }> }> {
  const self = m.fleet.name;
  const instances = local.map((v) => ({ ...v, host: self }));
  const unreachable: Array<{ host: string; instances: string[] }> = [];
  const others = m.fleet.hosts().filter((h) => !h.self);
  const answers = await Promise.all(others.map((h) => (h.state === "up" ? callPeer(m, h.name, "GET", "/v1/instances", undefined, scope.principal, 5000).catch(() => null) : null)));
  others.forEach((h, i) => {
    const a = answers[i];
    if (a && a.status === 200) {
      // the peer presented them for the caller: back to stored names, as this host's are until presented
      for (const v of (a.body as { instances: V[] }).instances) instances.push({ ...v, name: scope.qualify(v.name), host: h.name });
      return;
    }
    const names = m.fleet
      .claims()
      .filter((c) => c.host === h.name && scope.sees(c.name))
      .map((c) => c.name);
    if (names.length) unreachable.push({ host: h.name, instances: names });
  });
  return { instances, unreachable };
}
