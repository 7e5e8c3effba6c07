import type { NetworkKind } from "../../protocol/networks.js";

/**
 * How a NIC is given to UML, on the command line and hot-plugged through
 * mconsole (`config <spec>`, `remove <device>`), by network kind:
 *
 * - switch and host: UML's vector driver on the NIC's persistent TAP
 *   (`vecN:transport=tap,ifname=…,mac=…,gro=1`). It asks the TAP for virtio-net
 *   headers, so the guest gets TSO and checksum offload: one 64 KiB frame
 *   per system call instead of one 1500-byte frame (bench/net.ts: ~10-30x
 *   the legacy `ethN=tuntap`/`daemon` transports). `gro=1` is not optional:
 *   the driver always lets the TAP pass it TSO frames, and without it their
 *   receive buffers hold one MTU, so a TCP transfer stalls (seen here).
 * - user: the legacy driver's slirp transport (`ethN=slirp,…`).
 *
 * The API's slot `ethN` is unit N of either driver (the slot is unique per
 * instance, so the units never clash). The kernel names a vector device
 * `vecN`; umld's images rename it `ethN` when it appears (/etc/umld-net).
 */
export type DeviceKind = "vector" | "slirp";

export function deviceKind(kind: NetworkKind): DeviceKind {
  return kind === "user" ? "slirp" : "vector";
}

function unit(slot: string): number {
  const m = /^eth([0-9]|1[0-5])$/.exec(slot);
  if (!m) throw new Error(`not a NIC slot: ${slot}`);
  return Number(m[1]);
}

/** The device UML knows the NIC by (`remove` takes it). */
export function umlDevice(kind: NetworkKind, slot: string): string {
  return `${deviceKind(kind) === "vector" ? "vec" : "eth"}${unit(slot)}`;
}

/** Names the interface may have in the guest: the kernel's, then the one umld's images give it. */
export function guestNames(kind: NetworkKind, slot: string): string[] {
  return deviceKind(kind) === "vector" ? [umlDevice(kind, slot), slot] : [slot];
}

export interface DeviceNic {
  slot: string;
  mac: string;
  /** the TAP (switch and host networks) */
  tap: string | null;
}

/** The device's configuration: a command-line word and the argument of mconsole `config`. */
export function deviceSpec(kind: NetworkKind, nic: DeviceNic, slirp: { binary: string; args: string[] }): string {
  if (deviceKind(kind) === "slirp") return [`${nic.slot}=slirp,`, slirp.binary, ...slirp.args].join(",");
  if (!nic.tap || !/^umlt-[0-9a-f]{10}$/.test(nic.tap)) throw new Error(`NIC ${nic.slot} has no TAP`);
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(nic.mac)) throw new Error(`not a MAC: ${nic.mac}`);
  return `${umlDevice(kind, nic.slot)}:transport=tap,ifname=${nic.tap},mac=${nic.mac},gro=1`;
}
