import { existsSync } from "node:fs";
import type { Logger } from "pino";
import { USER_SUBNET, type NetworkKind, type NetworkView, type NicView } from "../../protocol/networks.js";
import { UmldError } from "../errors.js";
import { ownerOfName } from "../tenants/principal.js";
import type { InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import type { NetworkRow, NetworksRepo, NicRow } from "../store/networks-repo.js";
import { newId, nowIso } from "../util/ids.js";
import { allocateIp, gatewayOf, macFor, overlaps, parseSubnet } from "./address.js";
import { checkPrefix6, gateway6, nicAddress6, releaseForwarding6 } from "./ipv6.js";
import type { GuestFilter } from "./guest-filter.js";
import { bridgeName, tapName, type HostLinks } from "./host-links.js";
import { HostSide } from "./host-side.js";
import { bridgedAddress, checkAdminBridge } from "./bridged.js";
import { DNSMASQ, dnsName, NetworkDns } from "./dns.js";
import { Forwards, ruleOf } from "./forwards.js";
import { hostListeners } from "./listeners.js";
import { deviceSpec, guestNames, umlDevice } from "./nic-devices.js";
import { NicShaping } from "./nic-shaping.js";
import type { JailChange } from "../jail/jail-spec.js";
import type { JailFile } from "../jail/elf-deps.js";
import { binaryFiles } from "../jail/binary-files.js";

export interface NetHost {
  row(name: string): InstanceRow;
  identityOf(instanceName: string): { uid: number; gid: number };
  hasGuest(id: string): boolean;
  mconsole(name: string, command: string, timeoutMs?: number): Promise<string>;
  /** files added to a running guest's jail (/dev/net/tun, slirp and its libraries) */
  jailChange(instanceId: string, change: Omit<JailChange, "pid">): Promise<void>;
}

const SLOTS = Array.from({ length: 16 }, (_, i) => `eth${i}`);

/** Debian's `slirp` package: the plain binary emulates a 115200-baud line and answered nothing here; fullbolt works. */
export const SLIRP = "/usr/bin/slirp-fullbolt";
/**
 * slirp's arguments (UML splits them at commas and turns `_` into spaces):
 * `control addr 255.255.255.255` refuses its command line to everyone. Open,
 * a guest connecting to 10.0.2.0 gets slirp's telnet prompt, whose `exec`
 * runs any host program as the guest's uid and `redir` opens host ports.
 */
export const SLIRP_ARGS = ["control_addr_255.255.255.255"];
const USER_GUEST_IP = "10.0.2.15";

/**
 * Networks and the NICs on them:
 * - switch: an isolated L2 segment per network: a kernel bridge with no address and no uplink,
 *   closed to the host, a TAP per NIC on UML's vector driver (`vecN:transport=tap,…`);
 * - host: a host bridge with the network's first address, the same TAPs and driver,
 *   an nftables table per network (isolation, masquerade when NATed);
 * - user: slirp per NIC (`ethN=slirp,…`), unprivileged NAT; the host's loopback at 10.0.2.2
 *   only with hostAccess (the guest filter, keyed on the guest's uid, refuses it otherwise).
 * The host side of the first two is host-side.ts. MAC and address are allocated per
 * network and stable, on the command line at every start, and hot-plugged with `config`.
 */
export class Networks {
  /** every guest uid the filter was given in this run */
  private readonly seenUids = new Set<number>();
  private readonly host: HostSide;
  readonly forwards: Forwards;

  constructor(
    private readonly m: NetHost,
    private readonly repo: NetworksRepo,
    private readonly instances: InstancesRepo,
    private readonly links: HostLinks,
    private readonly log: Logger,
    /** absent: no filter (tests of the manager alone) */
    private readonly guestFilter?: GuestFilter,
  ) {
    this.host = new HostSide({
      links, log, shaping: new NicShaping(log),
      nicsOn: (id) => repo.nicsOn(id),
      ownerOf: (id) => this.tapOwner(id),
      netMbitOf: (id) => instances.byId(id)?.net_mbit ?? null,
      forwardsOn: (id) => repo.forwards.on(id).map(ruleOf),
      dns: new NetworkDns(links.stateDir, log),
      dnsRecords: (n) => repo.nicsOn(n.id).map((x) => ({ name: dnsName(instances.byId(x.instance_id)?.name ?? "", n.name), ip: x.ip })),
    });
    this.forwards = new Forwards({
      repo: repo.forwards, networks: repo, instances, log, listeners: hostListeners,
      hostAddresses: () => links.hostAddresses(),
      applyFirewall: (n) => this.host.firewall(n),
    });
  }

  /** A TAP is opened by the guest's UML process: it belongs to the instance's uid. */
  private tapOwner(instanceId: string): number {
    const name = this.instances.byId(instanceId)?.name;
    return name ? this.m.identityOf(name).uid : 0;
  }

  /** At daemon start: every bridge, TAP, table and shaping made sure of (re-adoption). */
  start(): void {
    this.refreshOrLog(); // guests do not start until it is in place (bootArgs asks again)
    for (const n of this.repo.all()) {
      try {
        this.host.ensureNetwork(n);
      } catch (e) {
        this.log.error({ network: n.name, err: (e as Error).message }, "cannot restore the network's host side");
      }
    }
  }

  create(name: string, kind: NetworkKind, subnet: string | undefined, nat: boolean, hostAccess = false, routed = false, bridge?: string, dns = false, ipv6?: string): NetworkView {
    if (this.repo.byName(name)) throw new UmldError("network_exists", `a network named '${name}' already exists`, { network: name });
    if (kind === "user") {
      if (subnet !== undefined && subnet !== USER_SUBNET) throw new UmldError("invalid_request", `user networks are always ${USER_SUBNET} (slirp's own)`, { subnet });
      subnet = USER_SUBNET;
    } else if (subnet === undefined) {
      throw new UmldError("invalid_request", `a ${kind} network needs a subnet, e.g. 10.77.0.0/24`, { kind });
    }
    if (nat && kind !== "host") throw new UmldError("invalid_request", `nat is for host networks (user networks are always NATed, switch networks never)`, { kind });
    if (routed && kind !== "host") throw new UmldError("invalid_request", `mode routed is for host networks`, { kind });
    if (routed && nat) throw new UmldError("invalid_request", `a routed network is not NATed: its guests keep their own addresses`, { mode: "routed", nat });
    if (bridge !== undefined && (kind !== "host" || nat || routed)) throw new UmldError("invalid_request", `mode bridged (with a bridge) is for host networks, not NATed or routed`, { kind, bridge });
    if (bridge !== undefined) checkAdminBridge(bridge, this.repo.all());
    if (dns && (kind !== "host" || bridge !== undefined)) throw new UmldError("invalid_request", `dns is for host networks umld addresses (not switch, user or bridged)`, { kind, dns });
    if (dns && !existsSync(DNSMASQ)) throw new UmldError("unsupported", `DNS names need ${DNSMASQ} (Debian package dnsmasq-base)`, { dns });
    if (hostAccess && kind !== "user") throw new UmldError("invalid_request", `hostAccess is for user networks (a host network's guests reach the host with ping only; a switch network has no host side)`, { kind });
    const prefix6 = ipv6 === undefined ? null : checkPrefix6(ipv6, kind, bridge, this.repo.all());
    const parsed = parseSubnet(subnet);
    if (!parsed) throw new UmldError("invalid_request", `subnet must be an IPv4 network address with a /8../30 prefix, e.g. 10.77.0.0/24`, { subnet });
    if (kind === "host") {
      const clash = [...this.repo.all().filter((n) => n.kind === "host").map((n) => ({ what: `network '${n.name}'`, cidr: n.subnet })), ...(bridge !== undefined ? [] : this.links.hostAddresses()).map((a) => ({ what: `host interface ${a.ifname}`, cidr: a.cidr }))]
        .find((o) => overlaps(parsed, o.cidr));
      if (clash) throw new UmldError("subnet_conflict", `${subnet} overlaps ${clash.cidr} of ${clash.what}: a host network's subnet is routed on the host`, { subnet, conflict: clash.cidr });
    }
    if (kind === "user" && !existsSync(SLIRP)) throw new UmldError("unsupported", `user networks need ${SLIRP} (Debian package slirp)`, { kind });
    const id = newId();
    const row: NetworkRow = { id, name, owner: ownerOfName(name).tenant, kind, subnet, nat: nat ? 1 : 0, routed: routed ? 1 : 0, bridged: bridge !== undefined ? 1 : 0, dns: dns ? 1 : 0, ipv6: prefix6, host_access: hostAccess ? 1 : 0, host_if: kind === "user" ? null : (bridge ?? bridgeName(id)), created_at: nowIso() };
    this.repo.insert(row);
    try {
      this.host.ensureNetwork(row);
    } catch (e) {
      this.removeHostSideQuietly(row);
      this.repo.delete(row.id);
      throw new UmldError("host_error", `cannot set up the network on the host: ${(e as Error).message}`);
    }
    this.log.info({ network: name, kind, subnet, nat, routed, hostAccess, ipv6: prefix6 }, "network created");
    return this.view(row);
  }

  list(): NetworkView[] {
    return this.repo.all().map((r) => this.view(r));
  }

  delete(name: string): { deleted: string } {
    const net = this.net(name);
    const users = this.repo.nicsOn(net.id).map((n) => this.instances.byId(n.instance_id)?.name ?? "?");
    if (users.length) throw new UmldError("network_in_use", `network '${name}' has NICs of ${users.join(", ")}`, { network: name, instances: users });
    this.host.removeNetwork(net);
    this.repo.delete(net.id);
    const forwarded = this.repo.all().filter((n) => n.kind === "host" && (n.nat || n.routed));
    if (!forwarded.length) this.links.releaseForwarding();
    if (!forwarded.some((n) => n.ipv6)) releaseForwarding6(this.links.stateDir, this.log);
    this.log.info({ network: name }, "network deleted");
    return { deleted: name };
  }

  /** On an admin's existing bridge (mode bridged): its LAN is not umld's. */
  isBridged(name: string): boolean {
    return this.repo.byName(name)?.bridged === 1;
  }

  nicsOf(instanceId: string): NicView[] {
    return this.repo.nicsOf(instanceId).map((n) => ({ slot: n.slot, network: this.repo.byId(n.network_id)?.name ?? "?", mac: n.mac, ip: n.ip, ipv6: nicAddress6(this.repo.byId(n.network_id)?.ipv6, n.mac), hostInterface: n.host_if }));
  }

  /** Before an instance is deleted: its NICs and their TAPs go. */
  forgetInstance(instanceId: string): void {
    for (const n of this.repo.nicsOf(instanceId)) {
      // the TAP first: a row gone with its TAP left would leave a port in the bridge nobody sweeps, owned by a uid the next guest may get
      this.host.removeNic(n);
      this.repo.deleteNic(instanceId, n.slot);
      this.guardOrLog(n.network_id);
    }
    this.refreshOrLog();
  }

  /**
   * An instance's `limits.netMbit` applied to its NICs now (each NIC gets the
   * rate in each direction; user NICs have no host interface to shape). All
   * or nothing: on a failure the NICs done so far go back to `previous`.
   */
  applyNetLimit(instanceId: string, mbit: number | null, previous: number | null): void {
    const nics = this.repo.nicsOf(instanceId).filter((n) => n.host_if);
    const done: NicRow[] = [];
    try {
      for (const n of nics) {
        this.host.shape(n, mbit);
        done.push(n);
      }
    } catch (e) {
      for (const n of done) {
        try {
          this.host.shape(n, previous);
        } catch {
          // the stored (previous) limit is applied again at the next daemon start
        }
      }
      throw new UmldError("host_error", `cannot shape the instance's NICs: ${(e as Error).message}`, { netMbit: mbit });
    }
  }

  /**
   * The guest filter made to match the database: every guest uid is in the
   * daemon's range (or seen once, for a guest of an older umld); those with a
   * NIC on a user network may send over IP (slirp), and of them those on a
   * network with hostAccess may reach the host. Keyed on uids: one per guest.
   */
  private refreshGuestFilter(): void {
    if (!this.guestFilter) return;
    const hostOk = new Set<number>();
    const egressOk = new Set<number>();
    for (const net of this.repo.all()) {
      if (net.kind !== "user") continue;
      for (const nic of this.repo.nicsOn(net.id)) {
        const uid = this.instances.byId(nic.instance_id)?.host_uid;
        if (uid === null || uid === undefined) continue;
        egressOk.add(uid);
        if (net.host_access === 1) hostOk.add(uid);
      }
    }
    for (const i of this.instances.all()) if (i.host_uid !== null) this.seenUids.add(i.host_uid);
    this.guestFilter.update(this.seenUids, hostOk, egressOk);
  }

  /** What a guest's jail needs for its NICs: /dev/net/tun for a TAP, slirp and its libraries. */
  jailNeeds(instanceId: string): { tun: boolean; files: JailFile[] } {
    const kinds = new Set(this.repo.nicsOf(instanceId).map((n) => this.repo.byId(n.network_id)?.kind));
    return this.jailFor(kinds);
  }

  private jailFor(kinds: Set<string | undefined>): { tun: boolean; files: JailFile[] } {
    const files: JailFile[] = [];
    if (kinds.has("user")) files.push(...binaryFiles(SLIRP));
    return { tun: kinds.has("host") || kinds.has("switch"), files };
  }

  /** Command-line options for every NIC (a new process); their TAPs are made sure of. */
  bootArgs(instanceId: string): string[] {
    this.filterOrFail(); // a guest never runs unfiltered: its uid may be new (another tenant's)
    return this.repo.nicsOf(instanceId).map((n) => this.spec(n, true));
  }

  private filterOrFail(): void {
    try {
      this.refreshGuestFilter();
    } catch (e) {
      throw new UmldError("host_error", `cannot update the guest filter: ${(e as Error).message}`);
    }
  }

  async attach(instanceName: string, network: string, mac?: string, requestedIp?: string): Promise<NicView & { live: boolean }> {
    const row = this.m.row(instanceName);
    const net = this.net(network);
    const live = row.state === "running" && this.m.hasGuest(row.id);
    if (!live && row.state !== "stopped" && row.state !== "crashed") {
      throw new UmldError("invalid_state", `cannot add a NIC to an instance that is ${row.state}`, { state: row.state, action: "attach-nic" });
    }
    const usedSlots = new Set(this.repo.nicsOf(row.id).map((n) => n.slot));
    const slot = SLOTS.find((s) => !usedSlots.has(s));
    if (!slot) throw new UmldError("no_free_nic", `instance '${instanceName}' has 16 NICs already`, {});
    const subnet = parseSubnet(net.subnet)!;
    const taken = new Set(this.repo.nicsOn(net.id).map((n) => n.ip));
    if (net.kind === "host") taken.add(gatewayOf(subnet));
    if (requestedIp !== undefined && net.bridged !== 1) throw new UmldError("invalid_request", `ip is for NICs on bridged networks (umld allocates the others' addresses)`, { ip: requestedIp, network });
    const ip = net.kind === "user" ? USER_GUEST_IP : net.bridged === 1 ? bridgedAddress(subnet, net.subnet, taken, this.links.hostAddresses().map((a) => a.cidr.split("/")[0]!), requestedIp) : allocateIp(subnet, taken);
    if (!ip) throw new UmldError("subnet_full", `network '${network}' has no free address in ${net.subnet}`, { network });
    if (mac && net.kind !== "user" && this.repo.nicsOn(net.id).some((n) => n.mac === mac)) {
      throw new UmldError("mac_in_use", `another NIC on '${network}' has the MAC ${mac}`, { mac, network });
    }
    const id = newId();
    const nic: NicRow = {
      id, instance_id: row.id, network_id: net.id, slot, ip, created_at: nowIso(),
      mac: mac ?? macFor(ip, subnet.prefix, net.kind === "host" && (net.nat === 1 || net.routed === 1 || net.bridged === 1)),
      shared_ip: net.kind === "user" ? 1 : 0,
      host_if: net.kind === "user" ? null : tapName(id),
    };
    this.repo.insertNic(nic); // first: the unique indexes make two concurrent attaches take different addresses
    try {
      if (net.kind === "user") this.filterOrFail();
      if (nic.host_if) {
        this.host.guard(net); // its port's rules first, then the port
        this.host.ensureNic(net, nic, true);
      }
      if (live) {
        const needs = this.jailFor(new Set([net.kind]));
        await this.m.jailChange(row.id, { readOnly: needs.files, readWrite: [], devices: needs.tun ? ["/dev/net/tun"] : [], remove: [] });
        await this.plug(instanceName, nic);
      }
    } catch (e) {
      this.repo.deleteNic(row.id, slot);
      this.host.removeNic(nic);
      this.guardOrLog(net.id);
      if (net.kind === "user") this.refreshOrLog();
      throw e instanceof UmldError ? e : new UmldError("host_error", `cannot add the NIC: ${(e as Error).message}`, { slot });
    }
    this.log.info({ instance: instanceName, network, slot, ip, live }, "NIC attached");
    return { slot, network, mac: nic.mac, ip, ipv6: nicAddress6(net.ipv6, nic.mac), hostInterface: nic.host_if, live };
  }

  async detach(instanceName: string, slot: string): Promise<{ detached: string }> {
    const row = this.m.row(instanceName);
    const nic = this.repo.nicsOf(row.id).find((n) => n.slot === slot);
    if (!nic) throw new UmldError("nic_not_found", `instance '${instanceName}' has no NIC ${slot}`, { slot });
    const kind = this.repo.byId(nic.network_id)!.kind;
    if (row.state === "running" && this.m.hasGuest(row.id)) {
      try {
        await this.m.mconsole(instanceName, `remove ${umlDevice(kind, slot)}`);
      } catch (e) {
        const text = (e as Error).message;
        if (/currently open|busy/i.test(text)) {
          throw new UmldError("nic_busy", `the guest still has ${slot} up; bring it down in the guest first (ip link set ${slot} down)`, { slot, guest: text });
        }
        if (!/doesn't exist/i.test(text)) throw e;
      }
    } else if (row.state !== "stopped" && row.state !== "crashed") {
      throw new UmldError("invalid_state", `cannot remove a NIC from an instance that is ${row.state}`, { state: row.state, action: "detach-nic" });
    }
    this.repo.deleteNic(row.id, slot);
    this.host.removeNic(nic);
    this.guardOrLog(nic.network_id);
    if (kind === "user") this.filterOrFail(); // host access may end here
    this.log.info({ instance: instanceName, slot }, "NIC detached");
    return { detached: slot };
  }

  /** After a reboot the kernel restarts with its original command line: plug NICs hot-added since. */
  async afterBoot(instanceName: string): Promise<void> {
    const row = this.m.row(instanceName);
    for (const n of this.repo.nicsOf(row.id)) {
      await this.plug(instanceName, n).catch(() => {}); // "already configured" for those on the command line
    }
  }

  private async plug(instanceName: string, nic: NicRow): Promise<void> {
    const kind = this.repo.byId(nic.network_id)!.kind;
    await this.m.mconsole(instanceName, `config ${this.spec(nic, false)}`);
    // UML answers OK even for a device it cannot use: the guest must show the interface (by either name)
    for (const name of guestNames(kind, nic.slot)) {
      if (await this.m.mconsole(instanceName, `proc sys/net/ipv4/conf/${name}/forwarding`).then(() => true, () => false)) return;
    }
    await this.m.mconsole(instanceName, `remove ${umlDevice(kind, nic.slot)}`).catch(() => {});
    throw new UmldError("device_failed", `the guest did not get ${nic.slot}`, { slot: nic.slot });
  }

  /** `newProcess`: no guest has the NIC's TAP open, so one of another owner may be made again. */
  private spec(n: NicRow, newProcess: boolean): string {
    const net = this.repo.byId(n.network_id)!;
    this.host.ensureNic(net, n, newProcess);
    return deviceSpec(net.kind, { slot: n.slot, mac: n.mac, tap: n.host_if }, { binary: SLIRP, args: SLIRP_ARGS });
  }

  /** Setup failed half-way: whatever was made goes again (a failure here is logged, the first one reported). */
  private removeHostSideQuietly(n: NetworkRow): void {
    try {
      this.host.removeNetwork(n);
    } catch (e) {
      this.log.error({ network: n.name, err: (e as Error).message }, "cannot remove a network's host side");
    }
  }

  private guardOrLog(networkId: string): void {
    const net = this.repo.byId(networkId);
    try {
      if (net) this.host.guard(net);
      if (net) this.host.firewall(net); // a NIC's forwards went with it (ON DELETE CASCADE)
    } catch (e) {
      this.log.error({ network: net?.name, err: (e as Error).message }, "cannot update the network's bridge guard or table");
    }
  }

  private refreshOrLog(): void {
    try {
      this.refreshGuestFilter();
    } catch (e) {
      this.log.error({ err: (e as Error).message }, "cannot update the guest filter");
    }
  }

  private net(name: string): NetworkRow {
    const n = this.repo.byName(name);
    if (!n) throw new UmldError("network_not_found", `no network named '${name}'`, { network: name });
    return n;
  }

  private view(r: NetworkRow): NetworkView {
    return {
      name: r.name, kind: r.kind, subnet: r.subnet, createdAt: r.created_at,
      nat: r.kind === "user" || r.nat === 1,
      routed: r.routed === 1,
      bridged: r.bridged === 1,
      dns: r.dns === 1,
      ipv6: r.ipv6 ?? null, gateway6: r.ipv6 ? gateway6(r.ipv6) : null,
      hostAccess: r.host_access === 1,
      gateway: r.kind === "host" ? gatewayOf(parseSubnet(r.subnet)!) : r.kind === "user" ? "10.0.2.2" : null,
      bridge: r.host_if,
      switchPid: null, // switch networks have no process since they moved to kernel bridges
      nics: this.repo.nicsOn(r.id).map((n) => ({ instance: this.instances.byId(n.instance_id)?.name ?? "?", slot: n.slot, ip: n.ip, ipv6: nicAddress6(r.ipv6, n.mac), mac: n.mac })),
    };
  }
}
