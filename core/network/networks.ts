import type { Logger } from "pino";
import type { NetworkKind, NetworkView, NicView } from "../../protocol/networks.js";
import { UmldError } from "../errors.js";
import type { InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import type { NetworkRow, NetworksRepo, NicRow } from "../store/networks-repo.js";
import { nicAddress6, releaseForwarding6 } from "./ipv6.js";
import { hostPrefixes6 } from "./ipv6-host.js";
import type { GuestFilter } from "./guest-filter.js";
import { GuestFilterSync } from "./guest-filter-sync.js";
import type { HostLinks } from "./host-links.js";
import { HostSide } from "./host-side.js";
import { dnsName } from "./dns.js";
import { ownerOfName } from "../tenants/principal.js";
import { NetworkDns, type DnsJail } from "./dns-daemons.js";
import { Forwards, ruleOf } from "./forwards.js";
import { hostListeners } from "./listeners.js";
import { deviceSpec, guestNames, umlDevice } from "./nic-devices.js";
import { NicShaping } from "./nic-shaping.js";
import type { JailChange } from "../jail/jail-spec.js";
import type { JailFile } from "../jail/elf-deps.js";
import { binaryFiles } from "../jail/binary-files.js";
import { keptNicProblem, networkView, newNetworkRow, newNicRow } from "./network-rows.js";
import { SLIRP, SLIRP_ARGS } from "./slirp.js";

export interface NetHost {
  row(name: string): InstanceRow;
  identityOf(instanceName: string): { uid: number; gid: number };
  hasGuest(id: string): boolean;
  mconsole(name: string, command: string, timeoutMs?: number): Promise<string>;
  /** files added to a running guest's jail (/dev/net/tun, slirp and its libraries) */
  jailChange(instanceId: string, change: Omit<JailChange, "pid">): Promise<void>;
}

const SLOTS = Array.from({ length: 16 }, (_, i) => `eth${i}`);

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
  /** the guest filter kept to the database */
  private readonly filter: GuestFilterSync;
  /** the networks' own daemons (dnsmasq) looked at again every 10 s */
  private watch: NodeJS.Timeout | null = null;
  private readonly host: HostSide;
  readonly forwards: Forwards;

  constructor(
    private readonly m: NetHost,
    private readonly repo: NetworksRepo,
    private readonly instances: InstancesRepo,
    private readonly links: HostLinks,
    private readonly log: Logger,
    /** absent: no filter (tests of the manager alone) */
    guestFilter?: GuestFilter,
    /** networks' own processes (dnsmasq): a host uid each, and the jail they run in */
    services?: { allocateUid(networkId: string): number; jail: DnsJail },
  ) {
    this.filter = new GuestFilterSync(repo, instances, log, guestFilter);
    this.host = new HostSide({
      links,
      log,
      shaping: new NicShaping(log),
      nicsOn: (id) => repo.nicsOn(id),
      ownerOf: (id) => this.tapOwner(id),
      netMbitOf: (id) => instances.byId(id)?.net_mbit ?? null,
      forwardsOn: (id) => repo.forwards.on(id).map((f) => ruleOf(f, repo.byId(id)?.ipv6)),
      dns: new NetworkDns(links.stateDir, log, services?.jail ?? { launcher: "/nonexistent", jailRoot: "/nonexistent" }),
      // only the network owner's guests are named: another owner's (an admin attached it) could take a name its guests resolve
      dnsRecords: (n) =>
        repo
          .nicsOn(n.id)
          .map((x) => ({ inst: instances.byId(x.instance_id)?.name ?? "", x }))
          .filter(({ inst }) => inst && ownerOfName(inst).tenant === n.owner)
          .map(({ inst, x }) => ({ name: dnsName(inst, n.name), ip: x.ip, ip6: nicAddress6(n.ipv6, x.mac) })),
      serviceUid: (n) => {
        const had = repo.byId(n.id)?.host_uid;
        if (had != null) return had;
        if (!services) throw new Error("networks' own processes need host ids");
        const uid = services.allocateUid(n.id);
        this.filter.refreshOrFail(); // its answers leave by its own bridge only (the guest filter), from now on
        return uid;
      },
    });
    this.forwards = new Forwards({
      repo: repo.forwards,
      networks: repo,
      instances,
      log,
      listeners: hostListeners,
      hostAddresses: () => links.hostAddresses(),
      hostAddresses6: () => hostPrefixes6(),
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
    this.filter.refreshOrLog(); // guests do not start until it is in place (bootArgs asks again)
    for (const n of this.repo.all()) {
      try {
        this.host.ensureNetwork(n);
      } catch (e) {
        this.log.error({ network: n.name, err: (e as Error).message }, "cannot restore the network's host side");
      }
    }
    if (!this.watch) {
      this.watch = setInterval(() => this.reviveServices(), 10_000);
      this.watch.unref();
    }
  }

  /** At daemon stop: the networks' daemons keep running (they outlive umld, like the bridges), unwatched. */
  stop(): void {
    if (this.watch) clearInterval(this.watch);
    this.watch = null;
  }

  /** A network's dnsmasq that died (a crash, its rlimits) is started again; one still running is left as it is. */
  reviveServices(): void {
    for (const n of this.repo.all()) {
      try {
        this.host.names(n);
      } catch (e) {
        this.log.error({ network: n.name, err: (e as Error).message }, "cannot start the network's dnsmasq again");
      }
    }
  }

  create(name: string, kind: NetworkKind, subnet: string | undefined, nat: boolean, hostAccess = false, routed = false, bridge?: string, dns = false, ipv6?: string): NetworkView {
    const row = newNetworkRow({ name, kind, subnet, nat, hostAccess, routed, bridge, dns, ipv6 }, this.repo.all(), () => this.links.hostAddresses());
    this.repo.insert(row);
    try {
      this.host.ensureNetwork(row);
    } catch (e) {
      this.removeHostSideQuietly(row);
      this.repo.delete(row.id);
      throw new UmldError("host_error", `cannot set up the network on the host: ${(e as Error).message}`);
    }
    this.log.info({ network: name, kind, subnet: row.subnet, nat, routed, hostAccess, ipv6: row.ipv6 }, "network created");
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
    return this.repo.nicsOf(instanceId).map((n) => nicView(n, this.repo.byId(n.network_id)));
  }

  /** Every instance's NICs in two queries (a list of views). */
  nicsByInstance(): Map<string, NicView[]> {
    const nets = new Map(this.repo.all().map((n) => [n.id, n]));
    const out = new Map<string, NicView[]>();
    for (const n of [...this.repo.allNics()].sort((a, b) => (a.slot < b.slot ? -1 : a.slot > b.slot ? 1 : 0))) {
      const list = out.get(n.instance_id) ?? [];
      list.push(nicView(n, nets.get(n.network_id)));
      out.set(n.instance_id, list);
    }
    return out;
  }

  /** Before an instance is deleted: its NICs and their TAPs go. */
  forgetInstance(instanceId: string): void {
    for (const n of this.repo.nicsOf(instanceId)) {
      // the TAP first: a row gone with its TAP left would leave a port in the bridge nobody sweeps, owned by a uid the next guest may get
      this.host.removeNic(n);
      this.repo.deleteNic(instanceId, n.slot);
      this.guardOrLog(n.network_id);
    }
    this.filter.refreshOrLog();
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
    this.filter.refreshOrFail(); // a guest never runs unfiltered: its uid may be new (another tenant's)
    return this.repo.nicsOf(instanceId).map((n) => this.spec(n, true));
  }

  /** Why NICs migrating here could not keep their network, MAC and address (empty: they can). */
  keptNicProblems(nics: Array<{ slot: string; network: string; kind: string; mac: string; ip: string }>): string[] {
    return nics.flatMap((n) => {
      const net = this.repo.byName(n.network);
      const p = keptNicProblem(net, n, net ? this.repo.nicsOn(net.id) : []);
      return p ? [p] : [];
    });
  }

  /** `keep`: a migrated NIC's slot and address (with `mac`), as it had them on its last host. */
  async attach(instanceName: string, network: string, mac?: string, requestedIp?: string, keep?: { slot: string; ip: string }): Promise<NicView & { live: boolean }> {
    const row = this.m.row(instanceName);
    const net = this.net(network);
    const live = row.state === "running" && this.m.hasGuest(row.id);
    if (!live && row.state !== "stopped" && row.state !== "crashed") {
      throw new UmldError("invalid_state", `cannot add a NIC to an instance that is ${row.state}`, { state: row.state, action: "attach-nic" });
    }
    const usedSlots = new Set(this.repo.nicsOf(row.id).map((n) => n.slot));
    const slot = keep ? (usedSlots.has(keep.slot) ? undefined : keep.slot) : SLOTS.find((s) => !usedSlots.has(s));
    if (!slot) throw new UmldError("no_free_nic", `instance '${instanceName}' has no free NIC slot${keep ? ` ${keep.slot}` : ""}`, {});
    const nic = newNicRow(row.id, net, slot, this.repo.nicsOn(net.id), () => this.links.hostAddresses(), mac, requestedIp, keep?.ip);
    const ip = nic.ip;
    this.repo.insertNic(nic); // first: the unique indexes make two concurrent attaches take different addresses
    try {
      if (net.kind === "user") this.filter.refreshOrFail();
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
      if (net.kind === "user") this.filter.refreshOrLog();
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
    if (kind === "user") this.filter.refreshOrFail(); // host access may end here
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
      if (
        await this.m.mconsole(instanceName, `proc sys/net/ipv4/conf/${name}/forwarding`).then(
          () => true,
          () => false,
        )
      )
        return;
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
      this.host.removeNetwork(this.repo.byId(n.id) ?? n); // with the uid it may have been given
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

  private net(name: string): NetworkRow {
    const n = this.repo.byName(name);
    if (!n) throw new UmldError("network_not_found", `no network named '${name}'`, { network: name });
    return n;
  }

  private view(r: NetworkRow): NetworkView {
    return networkView(r, this.repo.nicsOn(r.id), (id) => this.instances.byId(id)?.name ?? "?");
  }
}

function nicView(n: NicRow, net: NetworkRow | undefined): NicView {
  return { slot: n.slot, network: net?.name ?? "?", mac: n.mac, ip: n.ip, ipv6: nicAddress6(net?.ipv6, n.mac), hostInterface: n.host_if };
}
