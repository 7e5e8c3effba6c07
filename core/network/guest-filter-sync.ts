import type { Logger } from "pino";
import { UmldError } from "../errors.js";
import type { InstancesRepo } from "../store/instances-repo.js";
import type { NetworksRepo } from "../store/networks-repo.js";
import type { GuestFilter } from "./guest-filter.js";

/**
 * The guest filter made to match the database: every guest uid is in the
 * daemon's range (or seen once, for a guest of an older umld); those with a
 * NIC on a user network may send over IP (slirp), and of them those on a
 * network with hostAccess may reach the host; a network's dnsmasq (its own
 * uid) answers on its own bridge only. Keyed on uids: one per guest.
 */
export class GuestFilterSync {
  /** every guest uid the filter was given in this run */
  private readonly seenUids = new Set<number>();

  constructor(
    private readonly repo: NetworksRepo,
    private readonly instances: InstancesRepo,
    private readonly log: Logger,
    /** absent: no filter (tests of the manager alone) */
    private readonly filter?: GuestFilter,
  ) {}

  refresh(): void {
    if (!this.filter) return;
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
    const services = this.repo
      .all()
      .filter((n) => n.kind === "host" && n.host_uid != null && n.host_if && (n.dns === 1 || n.ipv6))
      .map((n) => ({ uid: n.host_uid!, bridge: n.host_if! }));
    this.filter.update(this.seenUids, hostOk, egressOk, services);
  }

  /** Before anything a guest or a network's daemon could use: no filter, no go. */
  refreshOrFail(): void {
    try {
      this.refresh();
    } catch (e) {
      throw new UmldError("host_error", `cannot update the guest filter: ${(e as Error).message}`);
    }
  }

  refreshOrLog(): void {
    try {
      this.refresh();
    } catch (e) {
      this.log.error({ err: (e as Error).message }, "cannot update the guest filter");
    }
  }
}
