/** Names of umld's host interfaces and tables, and the checks every name passes before it reaches a command line. */
export const BRIDGE_PREFIX = "umlbr-";
export const TAP_PREFIX = "umlt-";
/** the IFB device a shaped NIC's incoming traffic (what its guest sends) is queued on */
export const IFB_PREFIX = "umlq-";
export const TABLE_PREFIX = "umld_";

export function bridgeName(networkId: string): string {
  return BRIDGE_PREFIX + networkId.slice(0, 8); // 14 chars: IFNAMSIZ is 16 with the NUL
}

export function tapName(nicId: string): string {
  return TAP_PREFIX + nicId.slice(0, 10);
}

export function ifbName(nicId: string): string {
  return IFB_PREFIX + nicId.slice(0, 10);
}

export function tableName(networkId: string): string {
  return TABLE_PREFIX + networkId;
}

/** An admin's bridge (bridged networks): a name the kernel accepts and no command or nft syntax hides in. */
export const ADMIN_BRIDGE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

/** A bridge TAPs may join: one of ours, or an admin's (checked to be a bridge when the network was made). */
export function safeBridge(name: string): string {
  if (!/^umlbr-[0-9a-f]{8}$/.test(name) && !ADMIN_BRIDGE.test(name)) throw new Error(`refusing bridge name '${name}'`);
  return name;
}

/** A name we made ourselves, checked again before it reaches a command line. */
export function safeIf(name: string): string {
  if (!/^uml(br|t|q)-[0-9a-f]{8,10}$/.test(name)) throw new Error(`refusing interface name '${name}'`);
  return name;
}
