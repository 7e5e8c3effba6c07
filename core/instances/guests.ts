import type { GuestIdentity } from "../guest/identity.js";
import { UmldError } from "../errors.js";
import type { CgroupLayout } from "../jail/cgroups.js";
import { adminGid, sharedGid, type HostIds } from "../jail/host-ids.js";
import type { JailChange } from "../jail/jail-spec.js";
import type { Catalog } from "../storage/catalog.js";
import { imageGid } from "../storage/seal.js";
import type { InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import type { Registry } from "./registry.js";

/** How guests are jailed (core/jail/): their ids, cgroups and the launcher. */
export interface JailConfig {
  hostIds: HostIds;
  cgroups: CgroupLayout | null;
  launcher: string;
  /** most host processes per guest (its cgroup's pids.max and RLIMIT_NPROC of its uid) */
  maxProcesses: number;
  /** the gid the owner of an instance (by stored name) shares images and read-only disks through: its tenant's, or null for an admin's */
  tenantGid(instanceName: string): number | null;
  /** a tenant's CPU cap in cores (maxCpus; null: none) */
  tenantCpuCap(tenant: string): number | null;
}

/**
 * What the services around instances (memory, disks, networks, snapshots)
 * need of a guest: its row, whether a worker supervises it, its mconsole, its
 * host identity and its jail. The small context they get instead of the
 * object that made them.
 */
export class Guests {
  constructor(
    private readonly repo: InstancesRepo,
    private readonly registry: Registry,
    private readonly catalog: Catalog,
    private readonly jail: JailConfig,
  ) {}

  row(name: string): InstanceRow {
    const row = this.repo.byName(name);
    if (!row) throw new UmldError("instance_not_found", `no instance named '${name}'`, { name });
    return row;
  }

  hasGuest(id: string): boolean {
    return this.registry.has(id);
  }

  /** A raw mconsole command to a running guest, answered by its kernel (multi-part replies joined). */
  async mconsole(name: string, command: string, timeoutMs = 5000): Promise<string> {
    const row = this.row(name);
    const rt = this.registry.get(row.id);
    if (!rt) throw new UmldError("invalid_state", `instance '${name}' is ${row.state}: no guest to ask`, { state: row.state, action: "mconsole" });
    return rt.host.mconsole(command, timeoutMs);
  }

  /** The host identity of an instance's processes: its own uid and gid, and the groups it reads its images through. */
  identityOf(instanceName: string): GuestIdentity {
    return this.identityOfRow(this.row(instanceName));
  }

  identityOfRow(row: InstanceRow): GuestIdentity {
    if (row.host_uid === null) throw new UmldError("host_error", `instance '${row.name}' has no host uid yet`);
    const range = this.jail.hostIds.range;
    const owner = this.jail.tenantGid(row.name) ?? adminGid(range);
    // and the group its root image is read through (an admin may give a tenant's guest an image of its own)
    const image = this.catalog.imageById(row.image_id);
    const groups = [sharedGid(range), owner, ...(image ? [imageGid(image.owner, image.shared === 1)] : [])];
    return { uid: row.host_uid, gid: row.host_uid, groups: [...new Set(groups.filter((g) => g > 0))] };
  }

  /**
   * Makes files reachable in a running guest's jail (a hot-plugged disk and
   * its backing, /dev/net/tun for a TAP, slirp) or takes them away (a
   * detached disk). Does nothing for a stopped guest: its next boot's jail
   * is made from the records.
   */
  async jailChange(id: string, change: Omit<JailChange, "pid">): Promise<void> {
    const rt = this.registry.get(id);
    if (!rt) return;
    const add: Omit<JailChange, "pid"> = {
      readOnly: change.readOnly.filter((f) => !rt.jail.has(f.at)),
      readWrite: change.readWrite.filter((p) => !rt.jail.has(p)),
      devices: change.devices.filter((p) => !rt.jail.has(p)),
      remove: change.remove.filter((p) => rt.jail.has(p)),
    };
    if (!add.readOnly.length && !add.readWrite.length && !add.devices.length && !add.remove.length) return;
    await rt.host.changeJail(add);
    for (const f of add.readOnly) rt.jail.add(f.at);
    for (const p of [...add.readWrite, ...add.devices]) rt.jail.add(p);
    for (const p of add.remove) rt.jail.delete(p);
  }
}
