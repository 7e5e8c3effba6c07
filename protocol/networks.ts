import { z } from "zod";
import { Name, OwnedName } from "./names.js";

export const NetworkKind = z
  .enum(["switch", "host", "user"])
  .describe(
    "switch: an isolated L2 segment between guests (a kernel bridge with no address and no uplink); host: guests bridged to a host bridge with an address, optionally NATed; user: one private slirp NAT per NIC, no privileges",
  );
export type NetworkKind = z.infer<typeof NetworkKind>;

/** The fixed network slirp gives every guest. */
export const USER_SUBNET = "10.0.2.0/24";

export const CreateNetworkRequest = z
  .object({
    name: Name,
    kind: NetworkKind.default("switch"),
    subnet: z
      .string()
      .max(18)
      .regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, "an IPv4 CIDR such as 10.77.0.0/24")
      .optional()
      .describe(`required for switch and host; user networks are always ${USER_SUBNET}`),
    nat: z.boolean().default(false).describe("host only: masquerade the guests' traffic to the host's other interfaces"),
    mode: z
      .enum(["nat", "routed", "bridged"])
      .optional()
      .describe(
        "host only: nat (the same as nat: true); routed: the subnet is routed to this host by the provider, guests keep their addresses, forwarded to and from the uplinks with no NAT; bridged: guests on `bridge`, an existing bridge of the admin's, with addresses of its LAN",
      ),
    dns: z.boolean().default(false).describe("host networks (not bridged): a dnsmasq on the gateway answers <instance>.<network> for the network's NICs (Debian package dnsmasq-base)"),
    ipv6: z
      .string()
      .max(43)
      .optional()
      .describe(
        "host networks: an IPv6 /64, unique local (fd00::/8) or global unicast, e.g. fd42:1:2:3::/64; the host takes its first address, guests address themselves from their MAC (SLAAC, EUI-64) by the router advertisements of the network's dnsmasq; on a bridged network the LAN's prefix, advertised by the LAN's router",
      ),
    bridge: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/, "an interface name (1-15 letters, digits, _ . -)")
      .optional()
      .describe("mode bridged: the name of an existing Linux bridge on the host (e.g. one enslaving the uplink); umld adds its TAPs and never changes or deletes the bridge"),
    hostAccess: z
      .boolean()
      .default(false)
      .describe(
        "user only, admins only: guests with a NIC here may reach the host's own addresses (its 127.0.0.1 at 10.0.2.2, its interface addresses); without it only DNS through 10.0.2.3 reaches the host",
      ),
  })
  .strict();

export const NetworkView = z.object({
  name: z.string(),
  kind: NetworkKind,
  subnet: z.string(),
  nat: z.boolean(),
  routed: z.boolean().describe("host networks in mode routed: guests reached at their own addresses, no NAT"),
  dns: z.boolean().describe("its guests' names (<instance>.<network>) are served at the gateway"),
  ipv6: z.string().nullable().describe("the network's IPv6 /64 (null: IPv4 only)"),
  gateway6: z.string().nullable().describe("the host's IPv6 address on the bridge (the prefix's first), the guests' router (null on a bridged network: the LAN's router is theirs)"),
  bridged: z.boolean().describe("host networks in mode bridged: on the admin's bridge named in `bridge`"),
  hostAccess: z.boolean().describe("user networks: guests on it may reach the host's own services; false for every other kind (host networks' guests reach the host with ping only)"),
  gateway: z
    .string()
    .nullable()
    .describe("host: the bridge's address, the guests' route out (the host itself answers only ping there); user: slirp's alias for the host's loopback (reachable with hostAccess)"),
  bridge: z.string().nullable().describe("switch and host: the host bridge umld created"),
  switchPid: z.number().int().nullable().describe("always null: switch networks had a uml_switch process before they became kernel bridges"),
  nics: z.array(
    z.object({
      instance: z.string(),
      slot: z.string(),
      ip: z.string(),
      ipv6: z.string().nullable().describe("the address the guest gives itself from its MAC on the network's prefix"),
      mac: z.string(),
    }),
  ),
  createdAt: z.string(),
});
export type NetworkView = z.infer<typeof NetworkView>;

export const NicView = z.object({
  slot: z.string().describe("eth0..eth15"),
  network: z.string(),
  mac: z.string().describe("fe:<prefix>:<address>: the guest reads its address from it"),
  ip: z.string(),
  ipv6: z.string().nullable().describe("on a network with an IPv6 prefix: the address the guest gives itself from its MAC (SLAAC, EUI-64)"),
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
    ip: z
      .string()
      .max(15)
      .regex(/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/, "an IPv4 address such as 192.0.2.10")
      .optional()
      .describe("bridged networks only: the address to give the NIC, from the network's subnet (default: the first free one after the subnet's first address, skipping the host's)"),
  })
  .strict();
export const NetworkNameParams = z.object({ name: OwnedName }).strict();
export const NicSlotParams = z.object({ name: OwnedName, slot: z.string().regex(/^eth([0-9]|1[0-5])$/, "eth0..eth15") }).strict();

export const NetworkList = z.object({ networks: z.array(NetworkView) });
export const AttachNicResult = NicView.extend({ live: z.boolean().describe("true when it was hot-plugged into the running guest now") });

export const ForwardProtocol = z.enum(["tcp", "udp"]);
export type ForwardProtocol = z.infer<typeof ForwardProtocol>;
const Port = z.number().int().min(1).max(65535);
const Ipv4 = z
  .string()
  .max(15)
  .regex(/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/, "an IPv4 address such as 192.0.2.10");

/** An IPv6 address as text (the daemon checks it is one, and one of the host's): "::" for every IPv6 address of the host. */
const Ipv6 = z
  .string()
  .max(39)
  .regex(/^[0-9A-Fa-f:]*:[0-9A-Fa-f:]*$/, "an IPv6 address such as 2001:db8::10");
const ListenAddress = z.union([Ipv4, Ipv6]);

export const CreateForwardRequest = z
  .object({
    listenAddress: ListenAddress.optional().describe(
      'an IPv4 or IPv6 address of one of the host\'s interfaces (not loopback or link-local), or "::" for every IPv6 address of the host (IPv6: the network needs a prefix; the guest is reached at its IPv6 address); default: every IPv4 address of the host',
    ),
    listenPort: Port.describe("the host port; a tenant's must be in the range an admin granted it (tenant quotas.forwardPorts)"),
    protocol: ForwardProtocol.default("tcp"),
    instance: OwnedName.describe("the guest it goes to: it needs a NIC on this network"),
    targetPort: Port.optional().describe("the guest's port; default: listenPort"),
  })
  .strict();

export const ForwardView = z.object({
  network: z.string(),
  protocol: ForwardProtocol,
  listenAddress: z.string().nullable().describe('null: every IPv4 address of the host; "::": every IPv6 one'),
  listenPort: z.number().int(),
  instance: z.string(),
  slot: z.string().describe("the instance's NIC on this network"),
  targetAddress: z.string().describe("the NIC's address (its IPv6 one for an IPv6 forward)"),
  targetPort: z.number().int(),
  createdAt: z.string(),
});
export type ForwardView = z.infer<typeof ForwardView>;
export const ForwardList = z.object({ forwards: z.array(ForwardView) });
export const ForwardParams = z.object({ name: OwnedName, protocol: ForwardProtocol, port: z.coerce.number().int().min(1).max(65535) }).strict();
export const ForwardQuery = z.object({ listenAddress: ListenAddress.optional().describe("the forward's listen address, when it has one") }).strict();
export const DeletedForward = z.object({ deleted: z.string().describe("protocol/port[@address]") });
