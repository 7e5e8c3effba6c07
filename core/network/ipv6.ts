import type { NetworkKind } from "../../protocol/networks.js";
import { UmldError } from "../errors.js";
import type { NetworkRow } from "../store/networks-repo.js";
import { overlaps6, parsePrefix6, samePrefix6 } from "./address6.js";
import { hostPrefixes6 } from "./ipv6-host.js";

/** The network side of a network's IPv6 prefix (the host side is ipv6-host.ts). */
export { releaseForwarding6 } from "./ipv6-host.js";
export { gateway6, nicAddress6 } from "./address6.js";

const WHY = {
  syntax: "is not an IPv6 prefix",
  length: "must be a /64 (guests address themselves by SLAAC)",
  host_bits: "must be the network address (nothing after the first 64 bits)",
  scope: "must be unique local (fc00::/7) or global unicast (2000::/3)",
};

/**
 * A new network's IPv6 prefix checked (host networks, a usable /64 no other network has), in canonical form.
 * On a bridged network it is the LAN's (advertised by the LAN's router; the host may have an address in it there).
 */
export function checkPrefix6(ipv6: string, kind: NetworkKind, bridge: string | undefined, networks: NetworkRow[], host?: Array<{ ifname: string; cidr: string }>): string {
  if (kind !== "host") throw new UmldError("invalid_request", `ipv6 is for host networks (not switch or user)`, { kind, ipv6 });
  const p = parsePrefix6(ipv6);
  if ("problem" in p) throw new UmldError("invalid_prefix", `ipv6 ${WHY[p.problem]}, e.g. fd42:1:2:3::/64`, { ipv6, reason: p.problem });
  const clash = networks.find((n) => n.ipv6 && samePrefix6(n.ipv6, p.prefix));
  if (clash) throw new UmldError("subnet_conflict", `${p.prefix} is network '${clash.name}''s prefix already`, { ipv6: p.prefix, conflict: clash.ipv6 });
  const onHost = bridge !== undefined ? undefined : (host ?? hostPrefixes6()).find((a) => overlaps6(p.prefix, a.cidr));
  if (onHost)
    throw new UmldError("subnet_conflict", `${p.prefix} overlaps ${onHost.cidr} of host interface ${onHost.ifname}: a network's prefix is routed on the host`, {
      ipv6: p.prefix,
      conflict: onHost.cidr,
    });
  return p.prefix;
}
