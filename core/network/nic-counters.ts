import { readFileSync } from "node:fs";

/** Traffic of one NIC as the guest sees it: received is what came into the guest. */
export interface NicCounters {
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

function stat(ifname: string, name: string): number {
  return Number(readFileSync(`/sys/class/net/${ifname}/statistics/${name}`, "latin1").trim());
}

/**
 * Counters of a guest NIC read on its host interface (a TAP): what the host
 * side receives the guest sent, so rx and tx are swapped. Null when the
 * interface is gone. NICs without a host interface (switch, user) are not
 * counted: the one place to change when transports change.
 */
export function nicCounters(hostInterface: string): NicCounters | null {
  if (!IFNAME.test(hostInterface)) return null;
  try {
    return {
      rxBytes: stat(hostInterface, "tx_bytes"),
      txBytes: stat(hostInterface, "rx_bytes"),
      rxPackets: stat(hostInterface, "tx_packets"),
      txPackets: stat(hostInterface, "rx_packets"),
    };
  } catch {
    return null;
  }
}
