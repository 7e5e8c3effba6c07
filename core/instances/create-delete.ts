import { mkdirSync, rmSync } from "node:fs";
import type { Logger } from "pino";
import type { InstanceView } from "../../protocol/instances.js";
import { UmldError } from "../errors.js";
import type { EventBus } from "../events/bus.js";
import { isActive } from "../lifecycle/transitions.js";
import { native } from "../native.js";
import type { Networks } from "../network/networks.js";
import { instanceFiles, type StatePaths } from "../paths.js";
import type { Catalog } from "../storage/catalog.js";
import type { DiskRow, InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import { defaultBootOptions } from "../uml/argv.js";
import { createCow } from "../uml/cow.js";
import { newId, nowIso } from "../util/ids.js";
import { Revert } from "../util/revert.js";
import { ownerOfName } from "../tenants/principal.js";
import type { InstanceActions } from "./actions.js";
import type { CreateInstance, PolicyInput } from "./commands.js";
import type { Consoles } from "./consoles.js";
import type { GuestLimits } from "./guest-limits.js";
import { grantFile, prepareInstanceDir } from "./guest-files.js";
import type { Guests, JailConfig } from "./guests.js";
import type { Registry } from "./registry.js";
import type { Snapshots } from "./snapshots.js";

export interface LifetimeDeps {
  limits: GuestLimits;
  paths: StatePaths;
  repo: InstancesRepo;
  catalog: Catalog;
  bus: EventBus;
  log: Logger;
  jail: JailConfig;
  guests: Guests;
  registry: Registry;
  actions: InstanceActions;
  consoles: Consoles;
  networks: Networks;
  snapshots: () => Snapshots;
  view(name: string): InstanceView;
}

/** Creating an instance (files, COW, rows, its host uid; undone step by step on failure) and deleting it. */
export class Lifetimes {
  private readonly lpjDefaults = defaultBootOptions();

  constructor(private readonly d: LifetimeDeps) {}

  create(cmd: CreateInstance): InstanceView {
    const { repo, catalog, paths } = this.d;
    if (repo.byName(cmd.name)) throw new UmldError("instance_exists", `an instance named '${cmd.name}' already exists`, { name: cmd.name });
    const image = catalog.image(cmd.image);
    const kernel = catalog.kernel(cmd.kernel);
    if (cmd.diskQuotaMiB !== undefined && image.size_bytes > cmd.diskQuotaMiB * 1048576) {
      throw new UmldError("disk_quota_exceeded", `the root disk (${Math.ceil(image.size_bytes / 1048576)} MiB) is larger than diskQuotaMiB ${cmd.diskQuotaMiB}`, {
        quotaBytes: cmd.diskQuotaMiB * 1048576,
        usageBytes: 0,
        requestBytes: image.size_bytes,
      });
    }
    const limits = this.d.limits.check(ownerOfName(cmd.name).tenant, cmd.limits);
    const id = newId();
    const dir = paths.instanceDir(id);
    const f = instanceFiles(dir);
    const revert = new Revert();
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      revert.add(() => rmSync(dir, { recursive: true, force: true }));
      prepareInstanceDir(dir, id);
      native.mkfifo(f.consoleIn, 0o600);
      native.mkfifo(f.consoleOut, 0o600);
      const cow = createCow(f.rootCow, image.path);
      const at = nowIso();
      const disk: DiskRow = {
        id: newId(),
        instance_id: id,
        slot: "ubda",
        kind: "cow",
        path: f.rootCow,
        backing_path: image.path,
        backing_size: cow.size,
        backing_mtime: cow.mtime,
        size_bytes: cow.size,
        created_at: at,
      };
      repo.insert(
        {
          id,
          name: cmd.name,
          memory_mib: cmd.memoryMiB,
          max_memory_mib: cmd.maxMemoryMiB ?? cmd.memoryMiB,
          disk_quota_mib: cmd.diskQuotaMiB ?? null,
          net_mbit: cmd.limits?.netMbit ?? null,
          image_id: image.id,
          kernel_id: kernel.id,
          boot_options: JSON.stringify(cmd.bootOptions ?? this.lpjDefaults),
          created_at: at,
          memory_reclaim: cmd.memoryReclaim ?? "off",
          ...limits,
        },
        [disk],
      );
      revert.add(() => repo.delete(id));
      const uid = this.d.jail.hostIds.allocate({ kind: "instance", id }); // its own host uid, for as long as it exists
      repo.reload(id); // the uid was written by the host ids' repository
      grantFile(f.rootCow, { uid, gid: uid }, 0o600);
      if (cmd.policy) repo.update(id, policyColumns(cmd.policy));
      revert.success();
      this.d.log.info({ instance: cmd.name, id, memoryMiB: cmd.memoryMiB, image: image.name }, "instance created");
      this.d.bus.publish({ type: "instance.created", instance: cmd.name, timestamp: at });
      return this.d.view(cmd.name);
    } catch (e) {
      void revert.fail();
      if (e instanceof UmldError) throw e;
      if ((e as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE") {
        throw new UmldError("instance_exists", `an instance named '${cmd.name}' already exists`, { name: cmd.name });
      }
      throw new UmldError("host_error", `creating instance files failed: ${(e as Error).message}`, { name: cmd.name });
    }
  }

  async delete(name: string, force: boolean): Promise<{ deleted: string }> {
    let row: InstanceRow = this.d.guests.row(name);
    await this.d.actions.cancelQueuedStart(row.id, name, "delete"); // a start still waiting for a boot slot never boots
    if (isActive(row.state) || this.d.registry.has(row.id)) {
      if (!force) throw new UmldError("instance_running", `instance '${name}' is ${row.state}; stop it first or pass force=true`, { state: row.state });
      await this.d.actions.act(name, "halt", { wait: true }).catch(() => {});
      row = this.d.guests.row(name);
      if (isActive(row.state) || this.d.registry.has(row.id)) throw new UmldError("host_error", `instance '${name}' could not be halted`, { state: row.state });
    }
    const snapshots = this.d.snapshots();
    const madeFor = snapshots.imagesOf(row.id);
    this.d.networks.forgetInstance(row.id);
    this.d.repo.delete(row.id);
    // only the instance's own files (its COW, console log and sockets), never the shared image; a root-owned
    // tree (the guest owns only its COW file in it): nothing in it is a symlink a guest made
    rmSync(this.d.paths.instanceDir(row.id), { recursive: true, force: true });
    snapshots.dropImages(madeFor); // its snapshots' images and its clone base, unless something still uses them
    this.d.consoles.forget(row.id);
    this.d.log.info({ instance: name, id: row.id }, "instance deleted");
    this.d.bus.publish({ type: "instance.deleted", instance: name, timestamp: nowIso() });
    return { deleted: name };
  }
}

/** Policy fields (protocol names) to columns. */
export function policyColumns(p: PolicyInput) {
  const c: Partial<Pick<InstanceRow, "autostart" | "autostart_order" | "autostart_delay_s" | "restart_policy" | "hang_timeout_s" | "on_hang">> = {};
  if (p.autostart !== undefined) c.autostart = p.autostart ? 1 : 0;
  if (p.autostartOrder !== undefined) c.autostart_order = p.autostartOrder;
  if (p.autostartDelayS !== undefined) c.autostart_delay_s = p.autostartDelayS;
  if (p.restartPolicy !== undefined) c.restart_policy = p.restartPolicy;
  if (p.hangTimeoutS !== undefined) c.hang_timeout_s = p.hangTimeoutS;
  if (p.onHang !== undefined) c.on_hang = p.onHang;
  return c;
}
