import { z } from "zod";
import { Name, OwnedName } from "./names.js";

export const NetworkKind = z
  .enum(["switch", "host", "user"])
  .describe("switch: an isolated L2 segment between guests (a kernel bridge with no address and no uplink); host: guests bridged to a host bridge with an address, optionally NATed; user: one private slirp NAT per NIC, no privileges");
export type NetworkKind = z.infer<typeof NetworkKind>;

/** The fixed network slirp gives every guest. */
export const USER_SUBNET = "10.0.2.0/24";

export const CreateNetworkRequest = z
  .object({
    name: Name,
    kind: NetworkKind.default("switch"),
    subnet: z.string().max(18).regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, "an IPv4 CIDR such as 10.77.0.0/24").optional().describe(`required for switch and host; user networks are always ${USER_SUBNET}`),
    nat: z.boolean().default(false).describe("host only: masquerade the guests' traffic to the host's other interfaces"),
    hostAccess: z
      .boolean()
      .default(false)
      .describe("user only, admins only: guests with a NIC here may reach the host's own addresses (its 127.0.0.1 at 10.0.2.2, its interface addresses); without it only DNS through 10.0.2.3 reaches the host"),
  })
  .strict();

export const NetworkView = z.object({
  name: z.string(),
  kind: NetworkKind,
  subnet: z.string(),
  nat: z.boolean(),
  hostAccess: z.boolean().describe("user networks: guests on it may reach the host's own services; false for every other kind (host networks' guests reach the host with ping only)"),
  gateway: z.string().nullable().describe("host: the bridge's address, the guests' route out (the host itself answers only ping there); user: slirp's alias for the host's loopback (reachable with hostAccess)"),
  bridge: z.string().nullable().describe("switch and host: the host bridge umld created"),
  switchPid: z.number().int().nullable().describe("always null: switch networks had a uml_switch process before they became kernel bridges"),
  nics: z.array(z.object({ instance: z.string(), slot: z.string(), ip: z.string(), mac: z.string() })),
  createdAt: z.string(),
});
export type NetworkView = z.infer<typeof NetworkView>;

export const NicView = z.object({
  slot: z.string().describe("eth0..eth15"),
  network: z.string(),
  mac: z.string().describe("fe:<prefix>:<address>: the guest reads its address from it"),
  ip: z.string(),
  hostInterface: z.string().nullable().describe("switch and host networks: the TAP on the host side"),
});
export type NicView = z.infer<typeof NicView>;

export const AttachNicRequest = z
  .object({
    network: OwnedName,
    mac: z
      .string()
      .regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, "a MAC such as 02:00:00:00:00:01 (lowercase)")
      .refine((m) => (parseInt(m.slice(0, 2), 16) & 0b11) === 0b10, "a locally administered unicast MAC (first byte x2, x6, xa or xe)")
      .optional()
      .describe("default: allocated, carrying the NIC's address (fe:/fa:) so the default image configures itself; a MAC of your own means configuring the address in the guest"),
  })
  .strict();
export const NetworkNameParams = z.object({ name: OwnedName }).strict();
export const NicSlotParams = z.object({ name: OwnedName, slot: z.string().regex(/^eth([0-9]|1[0-5])$/, "eth0..eth15") }).strict();

export const NetworkList = z.object({ networks: z.array(NetworkView) });
export const AttachNicResult = NicView.extend({ live: z.boolean().describe("true when it was hot-plugged into the running guest now") });
