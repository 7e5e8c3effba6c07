import type { Logger } from "pino";
import type { NetworkView, NicView } from "../../protocol/networks.js";
import { UmldError } from "../errors.js";
import type { InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import type { NetworkRow, NetworksRepo, NicRow } from "../store/networks-repo.js";
import { newId, nowIso } from "../util/ids.js";
import { allocateIp, macFor, parseSubnet } from "./address.js";
import type { SwitchSupervisor } from "./switches.js";

export interface NetHost {
  row(name: string): InstanceRow;
  hasGuest(id: string): boolean;
  mconsole(name: string, command: string, timeoutMs?: number): Promise<string>;
}

const SLOTS = Array.from({ length: 16 }, (_, i) => `eth${i}`);

/**
 * Switch networks (an isolated L2 segment per network, one uml_switch each)
 * and the NICs on them: MAC and address allocated per network and stable,
 * on the command line at every start, hot-plugged with `config ethN=daemon,…`.
 */
export class Networks {
  constructor(
    private readonly m: NetHost,
    private readonly repo: NetworksRepo,
    private readonly instances: InstancesRepo,
    private readonly switches: SwitchSupervisor,
    private readonly log: Logger,
  ) {}

  /** At daemon start: every network's switch adopted or started, then watched. */
  start(): void {
    for (const n of this.repo.all()) this.switches.ensure(n.id);
    this.switches.watch();
  }

  create(name: string, kind: "switch", subnet: string): NetworkView {
    if (this.repo.byName(name)) throw new UmldError("network_exists", `a network named '${name}' already exists`, { network: name });
    if (!parseSubnet(subnet)) throw new UmldError("invalid_request", `subnet must be an IPv4 network address with a /8../30 prefix, e.g. 10.77.0.0/24`, { subnet });
    const row: NetworkRow = { id: newId(), name, kind, subnet, created_at: nowIso() };
    this.repo.insert(row);
    try {
      this.switches.ensure(row.id);
    } catch (e) {
      this.repo.delete(row.id);
      throw new UmldError("host_error", `cannot start the switch: ${(e as Error).message}`);
    }
    this.log.info({ network: name, subnet }, "network created");
    return this.view(row);
  }

  list(): NetworkView[] {
    return this.repo.all().map((r) => this.view(r));
  }

  delete(name: string): { deleted: string } {
    const net = this.net(name);
    const users = this.repo.nicsOn(net.id).map((n) => this.instances.byId(n.instance_id)?.name ?? "?");
    if (users.length) throw new UmldError("network_in_use", `network '${name}' has NICs of ${users.join(", ")}`, { network: name, instances: users });
    this.switches.stop(net.id);
    this.repo.delete(net.id);
    this.log.info({ network: name }, "network deleted");
    return { deleted: name };
  }

  nicsOf(instanceId: string): NicView[] {
    return this.repo.nicsOf(instanceId).map((n) => ({ slot: n.slot, network: this.repo.byId(n.network_id)?.name ?? "?", mac: n.mac, ip: n.ip }));
  }

  /** Command-line options for every NIC (a new process); their switches are made sure to run. */
  bootArgs(instanceId: string): string[] {
    return this.repo.nicsOf(instanceId).map((n) => this.spec(n));
  }

  async attach(instanceName: string, network: string): Promise<NicView & { live: boolean }> {
    const row = this.m.row(instanceName);
    const net = this.net(network);
    const live = row.state === "running" && this.m.hasGuest(row.id);
    if (!live && row.state !== "stopped" && row.state !== "crashed") {
      throw new UmldError("invalid_state", `cannot add a NIC to an instance that is ${row.state}`, { state: row.state, action: "attach-nic" });
    }
    const taken = new Set(this.repo.nicsOf(row.id).map((n) => n.slot));
    const slot = SLOTS.find((s) => !taken.has(s));
    if (!slot) throw new UmldError("no_free_nic", `instance '${instanceName}' has 16 NICs already`, {});
    const subnet = parseSubnet(net.subnet)!;
    const ip = allocateIp(subnet, new Set(this.repo.nicsOn(net.id).map((n) => n.ip)));
    if (!ip) throw new UmldError("subnet_full", `network '${network}' has no free address in ${net.subnet}`, { network });
    const nic: NicRow = { id: newId(), instance_id: row.id, network_id: net.id, slot, mac: macFor(ip, subnet.prefix), ip, created_at: nowIso() };
    if (live) await this.plug(instanceName, nic);
    this.repo.insertNic(nic);
    this.log.info({ instance: instanceName, network, slot, ip, live }, "NIC attached");
    return { slot, network, mac: nic.mac, ip, live };
  }

  async detach(instanceName: string, slot: string): Promise<{ detached: string }> {
    const row = this.m.row(instanceName);
    const nic = this.repo.nicsOf(row.id).find((n) => n.slot === slot);
    if (!nic) throw new UmldError("nic_not_found", `instance '${instanceName}' has no NIC ${slot}`, { slot });
    if (row.state === "running" && this.m.hasGuest(row.id)) {
      try {
        await this.m.mconsole(instanceName, `remove ${slot}`);
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
    await this.m.mconsole(instanceName, `config ${this.spec(nic)}`);
    // UML answers OK even when the switch cannot be reached: the guest must show the interface
    await this.m.mconsole(instanceName, `proc sys/net/ipv4/conf/${nic.slot}/forwarding`).catch(async () => {
      await this.m.mconsole(instanceName, `remove ${nic.slot}`).catch(() => {});
      throw new UmldError("device_failed", `the guest did not get ${nic.slot}`, { slot: nic.slot });
    });
  }

  private spec(n: NicRow): string {
    const ctl = this.switches.ctlPath(n.network_id);
    this.switches.ensure(n.network_id);
    return `${n.slot}=daemon,${n.mac},unix,${ctl}`;
  }

  private net(name: string): NetworkRow {
    const n = this.repo.byName(name);
    if (!n) throw new UmldError("network_not_found", `no network named '${name}'`, { network: name });
    return n;
  }

  private view(r: NetworkRow): NetworkView {
    return {
      name: r.name, kind: r.kind, subnet: r.subnet, createdAt: r.created_at,
      switchPid: this.switches.livePid(r.id),
      nics: this.repo.nicsOn(r.id).map((n) => ({ instance: this.instances.byId(n.instance_id)?.name ?? "?", slot: n.slot, ip: n.ip, mac: n.mac })),
    };
  }
}
