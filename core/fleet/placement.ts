import type { HostView } from "../../protocol/fleet.js";
import { UmldError } from "../errors.js";

const free = (h: HostView) => h.memory?.freeMiB ?? 0;

/**
 * The host a new instance of `memoryMiB` (its boot size) goes to: of the
 * hosts that are up, the one with the most free memory (its admission limit,
 * MemTotal × --memory-overcommit, minus what its guests commit) that has room;
 * ties go to the first name. Pure.
 */
export function place(hosts: readonly HostView[], memoryMiB: number): string {
  const fits = hosts.filter((h) => h.state === "up" && free(h) >= memoryMiB);
  fits.sort((a, b) => free(b) - free(a) || a.name.localeCompare(b.name));
  const best = fits[0];
  if (best) return best.name;
  throw new UmldError("no_host_fits", `no host of the fleet that is up has ${memoryMiB} MiB free`, {
    requestedMiB: memoryMiB,
    hosts: hosts.map((h) => ({ host: h.name, state: h.state, freeMiB: h.memory?.freeMiB ?? null })),
  });
}

/** A pinned host: it must be in the fleet and up (its own admission still decides at start). */
export function checkPinned(hosts: readonly HostView[], name: string): string {
  const h = hosts.find((x) => x.name === name);
  if (!h) throw new UmldError("host_not_found", `no host named '${name}' in the fleet`, { host: name });
  if (h.state !== "up") throw new UmldError("host_unreachable", `host '${name}' is lost`, { host: name });
  return name;
}
