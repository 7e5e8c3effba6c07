import { z } from "zod";

/**
 * The one registry of error codes. A code is stable once published: clients
 * match on it. Every error body is `{ error: { code, message, details? } }`.
 */
export const ERRORS = {
  invalid_request: { status: 400, doc: "The body, query or path failed validation; details lists the issues." },
  unauthorized: { status: 401, doc: "No valid bearer token on a TCP request or WebSocket upgrade." },
  route_not_found: { status: 404, doc: "No such endpoint in this protocol version." },
  instance_not_found: { status: 404, doc: "No instance has that name." },
  image_not_found: { status: 404, doc: "No image has that name." },
  kernel_not_found: { status: 404, doc: "No kernel has that name." },
  operation_not_found: { status: 404, doc: "No operation has that id." },
  instance_exists: { status: 409, doc: "An instance with that name already exists." },
  invalid_state: { status: 409, doc: "The action is not valid in the instance's current state; details names both." },
  instance_busy: { status: 409, doc: "Another action is still running on the instance; details names it." },
  operation_cancelled: { status: 409, doc: "The operation was cancelled before it ran: a queued start stopped by a halt, shutdown or delete (or the daemon stopping)." },
  instance_running: { status: 409, doc: "Delete refused because the instance is not stopped; use force=true." },
  disk_backing_changed: {
    status: 409,
    doc: "A copy-on-write layer does not match what umld recorded of its backing (its header, or the backing file's size or mtime, changed); nothing is started or read.",
  },
  memory_above_max: { status: 409, doc: "The memory target is above the instance's maxMemoryMiB (the boot size); details give both." },
  disk_not_found: { status: 404, doc: "No data disk has that name, or the instance has no disk in that slot." },
  disk_exists: { status: 409, doc: "A data disk with that name already exists." },
  disk_in_use: { status: 409, doc: "The disk is attached read-write elsewhere, or read-write is asked while others use it; details name the instances." },
  disk_busy: { status: 409, doc: "The guest still has the device open (mounted); the guest kernel's answer is in details." },
  no_free_slot: { status: 409, doc: "All 15 data disk slots (ubdb..ubdp) of the instance are taken." },
  device_failed: { status: 500, doc: "The guest kernel did not take a hot-plugged device (its answer, or what the guest shows, is in details)." },
  image_exists: { status: 409, doc: "An image with that name already exists." },
  image_in_use: { status: 409, doc: "Instances or disks are layered on the image (named in details), it holds a snapshot (delete the snapshot), or it is the default; it is not deleted." },
  invalid_image: { status: 400, doc: "The import source is missing, of the wrong type, not an ext file system, or cannot be extracted; details name it." },
  snapshot_not_found: { status: 404, doc: "The instance has no snapshot of that name." },
  snapshot_exists: { status: 409, doc: "The instance already has a snapshot of that name." },
  snapshot_in_use: { status: 409, doc: "Instances or disks are layered on the snapshot (named in details); it is not deleted." },
  disk_quota_exceeded: { status: 409, doc: "The instance's writable disks would exceed its disk quota; details give the quota, the usage and the request." },
  network_not_found: { status: 404, doc: "No network has that name." },
  network_exists: { status: 409, doc: "A network with that name already exists." },
  network_in_use: { status: 409, doc: "NICs of the instances named in details are on the network; it is not deleted." },
  nic_not_found: { status: 404, doc: "The instance has no NIC in that slot." },
  nic_busy: { status: 409, doc: "The guest still has the interface up; bring it down in the guest first (the kernel's answer is in details)." },
  no_free_nic: { status: 409, doc: "The instance has 16 NICs already." },
  subnet_full: { status: 409, doc: "The network's subnet has no free address." },
  tenant_not_found: { status: 404, doc: "No tenant has that name." },
  tenant_exists: { status: 409, doc: "A tenant with that name already exists." },
  tenant_in_use: { status: 409, doc: "The tenant still owns instances, networks, data disks or images (named in details); it is not deleted." },
  token_not_found: { status: 404, doc: "The tenant has no token with that id." },
  token_exists: { status: 409, doc: "The tenant already has a token with that name." },
  forbidden: { status: 403, doc: "The token is valid but may not do this (an admin-only route, or a permission the token lacks: details name it)." },
  quota_exceeded: { status: 409, doc: "The tenant would exceed a quota; details give the quota, its limit, the usage (including requests still running) and the request." },
  host_memory_exhausted: {
    status: 409,
    doc: "Starting the instance would commit more guest memory (the boot sizes of running guests) than the host's memory times --memory-overcommit; details give committedMiB, requestedMiB, limitMiB, hostMemTotalMiB and overcommit. Nothing was started.",
  },
  rate_limited: { status: 429, doc: "Too many requests from this token (or address) in a short time; retry after the seconds in details." },
  too_many_websockets: { status: 429, doc: "A WebSocket upgrade refused: the token (or, for console viewers, the instance) has as many open as the daemon allows; details give `per` and `limit`." },
  address_in_use: { status: 409, doc: "The address asked for a NIC is another NIC's on the network, the host's, or the subnet's first address (the router)." },
  port_taken: { status: 409, doc: "The host port is already forwarded (by this or another network) or a host process listens on it; details name what has it." },
  port_not_granted: { status: 403, doc: "A tenant's port forward asked for a host port outside the range an admin granted it (tenant quotas.forwardPorts, none by default); details give the range." },
  forward_not_found: { status: 404, doc: "The network has no port forward of that protocol, port and listen address." },
  not_forwardable: { status: 409, doc: "Port forwards are for NATed host networks, to an instance with a NIC on that network; details say which is missing." },
  mac_in_use: { status: 409, doc: "Another NIC on the network has that MAC." },
  invalid_prefix: {
    status: 400,
    doc: "A network's ipv6 is not a usable prefix: details.reason is syntax, length (only /64), host_bits (not the network address) or scope (only unique local fc00::/7 and global unicast 2000::/3).",
  },
  subnet_conflict: { status: 409, doc: "A host network's subnet overlaps another host network or an address on a host interface (named in details); it would break the host's routing." },
  unsupported: { status: 501, doc: "This host lacks what the request needs (details say what to install)." },
  kernel_exists: { status: 409, doc: "A kernel with that name already exists." },
  kernel_in_use: { status: 409, doc: "The kernel is used (booted, configured or staged) by instances named in details, or is the default." },
  not_a_uml_kernel: { status: 400, doc: "The file is not a User Mode Linux kernel (it does not answer --version and --help as one)." },
  upgrade_rolled_back: { status: 500, doc: "The new kernel panicked or did not boot in time; the instance was started again on its previous kernel." },
  host_not_found: { status: 404, doc: "No host of the fleet has that name." },
  host_unreachable: { status: 503, doc: "The fleet host the request is for (the instance's, or the one named) is lost or did not answer; details name it. Nothing was done there." },
  fleet_unavailable: { status: 503, doc: "etcd, where the fleet keeps host records and instance names, did not answer; nothing that needs it was done." },
  no_host_fits: { status: 409, doc: "No host of the fleet that is up has the free memory the instance needs (its admission limit minus what it commits); details list each host's free memory." },
  fleet_conflict: { status: 409, doc: "The instance's record in the fleet changed while the request ran (a migration, another host): nothing was committed; retry." },
  not_migratable: { status: 409, doc: "The instance has what a cold migration does not move yet (data disks, NICs, snapshots, a host directory, extra consoles); details name them." },
  not_in_fleet: { status: 501, doc: "This umld is not in a fleet (started without --cluster-etcd)." },
  mconsole_refused: { status: 400, doc: "That mconsole command is not allowed through the passthrough (it would bypass umld or crash the guest); details say what to use." },
  mconsole_error: { status: 502, doc: "The guest kernel answered the mconsole command with an error; its text is the message." },
  channel_not_found: { status: 404, doc: "The instance has no such extra console or serial line." },
  channel_busy: { status: 409, doc: "The console channel is already configured, or still open in the guest when removing it." },
  events_expired: {
    status: 410,
    doc: "The events after the `since` asked for are no longer kept (bounded retention, docs/operations.md), or that seq was never issued here (a new state dir); details give `since`, `oldest` and `latest`. Resync: read the objects again, then reconnect with since=latest.",
  },
  payload_too_large: { status: 413, doc: "The request body is larger than the daemon accepts." },
  unsupported_media_type: { status: 415, doc: "The request body is not JSON." },
  boot_failed: { status: 500, doc: "The guest process exited or failed before it became ready; details carry the exit." },
  action_timeout: { status: 504, doc: "The action did not finish within its timeout; the operation says what happened." },
  host_error: { status: 500, doc: "A host-side step failed (file, process or socket); details name it." },
  internal: { status: 500, doc: "An unexpected error inside the daemon; the log has the details." },
} as const satisfies Record<string, { status: number; doc: string }>;

export type ErrorCode = keyof typeof ERRORS;
export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

export const ErrorBody = z.object({
  error: z.object({
    code: z.enum(ERROR_CODES as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
    details: z.unknown().optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

export function statusOf(code: ErrorCode): number {
  return ERRORS[code].status;
}
