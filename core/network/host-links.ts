import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "pino";
import { firewallRules, replaceTable, type FirewallSpec } from "./firewall-rules.js";
import { safeBridge, safeIf } from "./link-names.js";

/**
 * The host side of `switch` and `host` networks: a Linux bridge per network
 * (a host network's with the network's first address, a switch network's
 * with none), one persistent TAP per NIC enslaved to it, and for host
 * networks one nftables table per network (isolation from other networks,
 * masquerade when NATed). Everything here is idempotent: `ensure*` is safe to
 * call at every start (re-adoption after a daemon restart), `remove*` on what
 * is already gone.
 *
 * Names are derived from umld's random ids, so two umld state dirs on one
 * host never touch each other's interfaces.
 */
export { ADMIN_BRIDGE, BRIDGE_PREFIX, bridgeName, IFB_PREFIX, ifbName, safeBridge, safeIf, TABLE_PREFIX, TAP_PREFIX, tableName, tapName } from "./link-names.js";
export { firewallRules, replaceTable, type FirewallSpec, type ForwardRule } from "./firewall-rules.js";

export function run(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"], timeout: 10_000 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")}: ${(err.stderr || err.message).trim()}`);
  }
}

export class HostLinks {
  constructor(
    /** STATE/net/ip_forward.umld: present when umld turned IPv4 forwarding on and should turn it off again. */
    private readonly forwardMarker: string,
    private readonly log: Logger,
  ) {}

  /** STATE/net: where the networks' own files (dnsmasq pid files) live */
  get stateDir(): string {
    return dirname(this.forwardMarker);
  }

  exists(ifname: string): boolean {
    return existsSync(`/sys/class/net/${safeIf(ifname)}`);
  }

  /**
   * The bridge, up: a host network's with its gateway address on it, a switch
   * network's (`gatewayCidr` null) with no address and IPv6 off, so the host
   * takes no part in the segment (its guard table drops what would reach it).
   */
  ensureBridge(bridge: string, gatewayCidr: string | null): void {
    safeIf(bridge);
    if (!this.exists(bridge)) {
      run("ip", ["link", "add", bridge, "type", "bridge"]);
      this.log.info({ bridge }, "bridge created");
    }
    this.pinAddress(bridge);
    if (gatewayCidr === null) {
      noIpv6(bridge);
    } else {
      const addrs = run("ip", ["-o", "-4", "addr", "show", "dev", bridge]);
      if (!addrs.includes(` ${gatewayCidr} `)) run("ip", ["addr", "add", gatewayCidr, "dev", bridge]);
    }
    run("ip", ["link", "set", bridge, "up"]);
  }

  /**
   * A bridge whose MAC was never set takes its lowest port's, and a guest can
   * change its TAP's MAC (a TUN ioctl on its own descriptor): pinned, the
   * bridge (a host network's gateway) keeps the address it has.
   */
  pinAddress(bridge: string): void {
    safeBridge(bridge);
    const read = (f: string) => readFileSync(`/sys/class/net/${bridge}/${f}`, "utf8").trim();
    if (read("addr_assign_type") !== "3") run("ip", ["link", "set", bridge, "address", read("address")]); // 3: NET_ADDR_SET
  }

  removeLink(ifname: string): void {
    if (!this.exists(ifname)) return;
    run("ip", ["link", "del", safeIf(ifname)]);
    this.log.info({ ifname }, "host interface removed");
  }

  /**
   * A persistent TAP enslaved to the bridge, owned by `uid` so the guest's
   * unprivileged UML process can open it. `reown`: a TAP of another owner, or
   * with a group, is deleted and made again (only when no guest has it open).
   * True when the TAP is new (its shaping, if any, is to be applied again).
   */
  ensureTap(tap: string, bridge: string, uid: number, reown = false): boolean {
    safeIf(tap);
    safeBridge(bridge);
    if (uid !== 0) this.tunOpenable();
    // a guest can give its TAP to another uid or to a group (TUN ioctls on its own descriptor): made again
    if (reown && this.exists(tap) && (this.tapOwner(tap) !== uid || this.tapGroup(tap) !== null)) this.removeLink(tap);
    let made = false;
    if (!this.exists(tap)) {
      run("ip", ["tuntap", "add", "dev", tap, "mode", "tap", ...(uid !== 0 ? ["user", String(uid)] : [])]);
      noIpv6(tap); // a bridge port: the host has nothing to say on it
      this.log.info({ tap, bridge }, "TAP created");
      made = true;
    } else if (this.inBridgeAndUp(tap, bridge)) {
      return false; // every boot and reboot asks: read /sys, run nothing
    }
    run("ip", ["link", "set", tap, "master", bridge]);
    run("ip", ["link", "set", tap, "up"]);
    return made;
  }

  private inBridgeAndUp(ifname: string, bridge: string): boolean {
    try {
      const master = readlinkSync(`/sys/class/net/${ifname}/master`).split("/").pop();
      const flags = parseInt(readFileSync(`/sys/class/net/${ifname}/flags`, "utf8"), 16);
      return master === bridge && (flags & 1) === 1; // IFF_UP
    } catch {
      return false;
    }
  }

  /**
   * An unprivileged UML opens /dev/net/tun itself to attach to its TAP (the
   * kernel then checks the TAP's owner). Debian makes the node 0666; some
   * hosts (containers) have 0600, which keeps every non-root guest off its TAP.
   */
  private tunOpenable(): void {
    const st = statSync("/dev/net/tun");
    if ((st.mode & 0o006) === 0o006) return;
    chmodSync("/dev/net/tun", 0o666);
    this.log.warn("/dev/net/tun was not usable by unprivileged guests; made it 0666 (the Debian default)");
  }

  /** The TAP's owner uid (0 when none is set: only root may open it). */
  tapOwner(tap: string): number {
    try {
      const v = Number(readFileSync(`/sys/class/net/${safeIf(tap)}/owner`, "utf8").trim());
      return Math.max(v, 0);
    } catch {
      return 0;
    }
  }

  /** The TAP's group, which may open it too (null: none, as umld makes them). */
  tapGroup(tap: string): number | null {
    try {
      const v = Number(readFileSync(`/sys/class/net/${safeIf(tap)}/group`, "utf8").trim());
      return v < 0 ? null : v;
    } catch {
      return null;
    }
  }

  ensureFirewall(f: FirewallSpec): void {
    // `add` then `delete` makes the replacement work whether or not the table exists
    run("nft", ["-f", "-"], replaceTable(f.table, firewallRules(f)));
    if (f.nat || f.routed) this.enableForwarding();
  }

  removeFirewall(table: string): void {
    if (!/^umld_[0-9a-f]{16}$/.test(table)) throw new Error(`refusing table name '${table}'`);
    run("nft", ["-f", "-"], replaceTable(table, ""));
  }

  /** IPv4 addresses on the host's interfaces, as "addr/prefix". */
  hostAddresses(): Array<{ ifname: string; cidr: string }> {
    return run("ip", ["-o", "-4", "addr", "show"])
      .split("\n")
      .map((l) => /^\d+:\s+(\S+)\s+inet\s+(\S+)/.exec(l))
      .filter((m): m is RegExpExecArray => !!m)
      .map((m) => ({ ifname: m[1]!, cidr: m[2]! }));
  }

  /** NAT needs IPv4 forwarding. umld notes when it turned it on, to turn it off after its last NAT network. */
  private enableForwarding(): void {
    const path = "/proc/sys/net/ipv4/ip_forward";
    if (readFileSync(path, "utf8").trim() === "1") return;
    writeFileSync(path, "1\n");
    writeFileSync(this.forwardMarker, "umld turned net.ipv4.ip_forward on\n");
    this.log.warn("net.ipv4.ip_forward turned on for a NAT network");
  }

  /** Called when no NAT network is left. */
  releaseForwarding(): void {
    if (!existsSync(this.forwardMarker)) return;
    writeFileSync("/proc/sys/net/ipv4/ip_forward", "0\n");
    rmSync(this.forwardMarker, { force: true });
    this.log.info("net.ipv4.ip_forward turned off again (umld had turned it on)");
  }
}

/** IPv6 off on an interface of ours (absent when the host has no IPv6 at all). */
function noIpv6(ifname: string): void {
  const knob = `/proc/sys/net/ipv6/conf/${safeIf(ifname)}/disable_ipv6`;
  if (existsSync(knob) && readFileSync(knob, "utf8").trim() !== "1") writeFileSync(knob, "1\n");
}
