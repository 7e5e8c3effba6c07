import { UmldError } from "../errors.js";
import { authorize, prefixOf, type Principal } from "../tenants/principal.js";
import { runBulk } from "./bulk.js";
import { COMMAND_ACCESS, isInstanceVerb, type Command, type CommandKind, type CommandOf } from "./command.js";
import { runCommand, type CommandResult, type CoreServices } from "./handlers.js";
import { usageDelta } from "./usage.js";
import type { Usage } from "../store/tenants-repo.js";

/**
 * The one entry every write goes through: whoever asks, the actor must be
 * allowed the command (COMMAND_ACCESS), the command is put in the actor's
 * namespace (a tenant names only its own things), refused
 * where a tenant may not go (the host's own resources), charged to the
 * tenant's quotas (checked and reserved in one step, released when the work
 * is done, also when it runs on as an operation), then run.
 */
/** What a fleet adds to a command (core/fleet/, docs/fleet.md): names claimed in etcd, tenants and tokens copied to every host. */
export interface FleetHooks {
  /** a new instance name, claimed fleet-wide before anything is made */
  claim(stored: string, memoryMiB: number): Promise<void>;
  release(stored: string): Promise<void>;
  /** a tenant's instances and memory on the other hosts: its quotas are the fleet's */
  elsewhere(tenant: string): { instances: number; memoryMiB: number };
  /** a check before the command runs (a tenant deleted only when it holds nothing in the fleet) */
  before(cmd: Command): void;
  /** after it succeeded here (a tenant's or token's record in etcd) */
  after(cmd: Command, result: unknown): Promise<void>;
}

export class Dispatcher {
  private names: FleetHooks | null = null;
  constructor(private readonly s: CoreServices) {}

  /** In a fleet: every new instance name is claimed fleet-wide first, tenants and tokens go to etcd. */
  setFleet(names: FleetHooks): void {
    this.names = names;
  }

  async execute<K extends CommandKind>(command: CommandOf<K>, actor: Principal): Promise<CommandResult<K>> {
    const cmd = command as Command;
    authorize(actor, COMMAND_ACCESS[cmd.kind], cmd.kind === "instance.bulk" ? cmd.action : cmd.kind);
    if (cmd.kind === "instance.bulk") {
      // each item is its own command for this actor: authorized, namespaced and answered as if alone
      const result = await runBulk(
        cmd,
        actor,
        () => this.s.instances.rows(),
        (one) => this.execute(one, actor),
      );
      return result as CommandResult<K>;
    }
    const tenant = actor.tenant;
    if (tenant !== null) {
      if (actor.kind === "tenant") {
        refuseHostParts(cmd);
        if (cmd.kind === "forward.add") this.s.tenants.checkForwardPort(tenant, cmd.listenPort);
      }
      qualify(cmd, prefixOf(tenant));
      this.resolveImages(cmd, tenant);
      if (actor.kind === "tenant" && cmd.kind === "nic.attach" && cmd.mac !== undefined && this.s.instances.networks.isBridged(cmd.network)) {
        // the admin's LAN: a MAC there may be another machine's, which the LAN's switches would then send here
        throw new UmldError("forbidden", "a NIC's MAC on a bridged network is given by admins", { needs: "admin", field: "mac" });
      }
    }
    const delta = tenant !== null ? usageDelta(this.s, cmd) : null;
    const release = delta ? this.s.tenants.reserve(tenant!, this.withElsewhere(tenant!, delta)) : () => {};
    let later = false;
    const claimed = cmd.kind === "instance.create" ? cmd.name : cmd.kind === "instance.clone" ? cmd.clone.name : null;
    try {
      this.names?.before(cmd);
      if (claimed !== null && this.names) await this.names.claim(claimed, (delta ?? usageDelta(this.s, cmd))?.memoryMiB ?? 0);
      const result = await this.runClaimed(command, claimed);
      // an operation still running (wait=false) keeps its reservation until it ends
      const op = (result as { operation?: { id: string; status: string } } | null)?.operation;
      if (delta && op && op.status === "running") later = this.releaseWhenDone(op.id, release);
      return result;
    } finally {
      if (!later) release();
    }
  }

  /** In a fleet a quota counts the tenant's instances on every host: what the other hosts hold is reserved with the delta (and released with it). */
  private withElsewhere(tenant: string, delta: Partial<Usage>): Partial<Usage> {
    if (!this.names) return delta;
    const other = this.names.elsewhere(tenant);
    const out = { ...delta };
    if (out.instances) out.instances += other.instances;
    if (out.memoryMiB) out.memoryMiB += other.memoryMiB;
    return out;
  }

  /** Runs a command; a name claimed for it is released if it fails, and a deleted instance's name after it succeeds. */
  private async runClaimed<K extends CommandKind>(command: CommandOf<K>, claimed: string | null): Promise<CommandResult<K>> {
    const cmd = command as Command;
    let result: CommandResult<K>;
    try {
      result = await runCommand(this.s, command);
    } catch (e) {
      if (claimed !== null && this.names) await this.names.release(claimed).catch(() => {}); // the name stays claimed until a retry or delete: never a second owner
      throw e;
    }
    if (cmd.kind === "instance.delete" && this.names) await this.names.release(cmd.name).catch(() => {});
    await this.names?.after(cmd, result);
    return result;
  }

  /**
   * Image names a tenant sends are resolved through the image's owner: its
   * own image, or (to use, not to delete) one of the shared catalogue;
   * anything else is image_not_found, exactly as if absent.
   */
  private resolveImages(cmd: Command, tenant: string): void {
    const c = this.s.catalog;
    if (cmd.kind === "instance.create") cmd.image = c.imageFor(cmd.image, tenant, "use").name;
    if (cmd.kind === "disk.attach" && cmd.disk.image !== undefined) cmd.disk.image = c.imageFor(cmd.disk.image, tenant, "use").name;
    if (cmd.kind === "image.delete") cmd.name = c.imageFor(cmd.name, tenant, "own").name;
  }

  private releaseWhenDone(opId: string, release: () => void): boolean {
    const onEvent = (e: { type: string; operation?: { id: string; status: string } }) => {
      if (e.type === "operation" && e.operation?.id === opId && e.operation.status !== "running") {
        this.s.bus.off("event", onEvent);
        release();
      }
    };
    this.s.bus.on("event", onEvent);
    if (this.s.operations.get(opId).status !== "running") {
      this.s.bus.off("event", onEvent);
      return false;
    }
    return true;
  }
}

/** A tenant's names get its prefix: it can only ever name its own instances, disks, networks. */
function qualify(cmd: Command, prefix: string): void {
  const q = (n: string) => prefix + n;
  if (isInstanceVerb(cmd)) {
    cmd.name = q(cmd.name);
    return;
  }
  switch (cmd.kind) {
    case "instance.create":
    case "instance.delete":
    case "instance.configure":
    case "instance.merge":
    case "instance.mconsole":
    case "network.create":
    case "network.delete":
    case "disk.delete":
      cmd.name = q(cmd.name);
      return;
    case "instance.clone":
      cmd.name = q(cmd.name);
      cmd.clone.name = q(cmd.clone.name);
      return;
    case "snapshot.create":
    case "snapshot.restore":
    case "snapshot.delete":
    case "disk.detach":
    case "channel.add":
    case "channel.remove":
    case "nic.detach":
      cmd.instance = q(cmd.instance);
      return;
    case "disk.attach":
      cmd.instance = q(cmd.instance);
      if (cmd.disk.disk !== undefined) cmd.disk.disk = q(cmd.disk.disk);
      return;
    case "nic.attach":
      cmd.instance = q(cmd.instance);
      cmd.network = q(cmd.network);
      return;
    case "forward.add":
      cmd.instance = q(cmd.instance);
      cmd.network = q(cmd.network);
      return;
    case "forward.remove":
      cmd.network = q(cmd.network);
      return;
    case "kernel.rollout":
      if (cmd.selector.instances) cmd.selector.instances = cmd.selector.instances.map(q);
      return;
    default:
      return; // not a tenant's namespace (images, kernels, tenants, tokens: admins', or resolved by owner)
  }
}

/** What a tenant may not ask even of a command it may otherwise give: it changes the host itself. */
function refuseHostParts(cmd: Command): void {
  if (cmd.kind === "instance.configure" && cmd.changes.hostfsDir !== undefined) {
    throw new UmldError("forbidden", "host directories are granted by admins", { needs: "admin", field: "hostfsDir" });
  }
  if (cmd.kind === "network.create" && cmd.networkKind === "host") {
    // a bridge, firewall rules and forwarding: an admin makes them (acting for the tenant)
    throw new UmldError("forbidden", "host networks are created by admins; tenants create switch and user networks", { needs: "admin", kind: "host" });
  }
  if (cmd.kind === "nic.attach" && cmd.ip !== undefined) {
    // a bridged network is the admin's LAN: an address there may be another machine's
    throw new UmldError("forbidden", "a NIC's address on a bridged network is given by admins", { needs: "admin", field: "ip" });
  }
  if (cmd.kind === "network.create" && cmd.hostAccess) {
    // the host's own services (its loopback, every address it listens on): an admin decides who reaches them
    throw new UmldError("forbidden", "host access for a user network is granted by admins", { needs: "admin", field: "hostAccess" });
  }
}
