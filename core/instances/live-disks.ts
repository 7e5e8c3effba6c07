import { closeSync, fsyncSync, ftruncateSync, mkdirSync, openSync, rmSync, constants } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { AttachmentView, DataDiskView } from "../../protocol/disks.js";
import { UmldError } from "../errors.js";
import type { EventBus } from "../events/bus.js";
import type { Catalog } from "../storage/catalog.js";
import type { DataDiskRow, DataDisksRepo } from "../store/data-disks-repo.js";
import type { InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import { checkCow, createCow, recordNow, type BackingRecord } from "../uml/cow.js";
import { newId, nowIso } from "../util/ids.js";
import type { z } from "zod";
import type { AttachDiskRequest as AttachSchema } from "../../protocol/disks.js";
import { allocatedBytes, fsyncDir } from "../util/fs.js";
import type { GuestIdentity } from "../guest/identity.js";
import { grantDisk } from "./guest-files.js";
import type { JailChange } from "../jail/jail-spec.js";

export interface DiskHost {
  row(name: string): InstanceRow;
  identityOf(instanceName: string): GuestIdentity;
  hasGuest(id: string): boolean;
  mconsole(name: string, command: string, timeoutMs?: number): Promise<string>;
  /** files added to or removed from a running guest's jail */
  jailChange(instanceId: string, change: Omit<JailChange, "pid">): Promise<void>;
}

/** ubdb..ubdp: unit 1..15 (ubda, unit 0, is the root disk). */
export const DATA_SLOTS = Array.from({ length: 15 }, (_, i) => `ubd${String.fromCharCode(98 + i)}`);
const unitOf = (slot: string) => slot.charCodeAt(3) - 97;

/** The UML device string: ubdN[r]=file[,backing]. Paths are daemon-made, never from a request. */
/** What every view of a disk file says of it (root COW or data disk): kind, path, backing as recorded, sizes. */
export function diskFacts(d: Pick<DataDiskRow, "kind" | "path" | "backing_path" | "backing_size" | "backing_mtime" | "size_bytes">, allocated: (path: string) => number) {
  return {
    kind: d.kind,
    path: d.path,
    backingPath: d.backing_path,
    backingSizeBytes: d.backing_size,
    backingMtime: d.backing_mtime,
    sizeBytes: d.size_bytes,
    allocatedBytes: allocated(d.path),
  };
}

export function ubdSpec(slot: string, disk: Pick<DataDiskRow, "path" | "backing_path">, readOnly: boolean): string {
  for (const p of [disk.path, disk.backing_path ?? ""]) if (/[,:\s=]/.test(p)) throw new RangeError(`path not usable in a ubd option: ${p}`);
  return `ubd${unitOf(slot)}${readOnly ? "r" : ""}=${disk.path}${disk.backing_path ? `,${disk.backing_path}` : ""}`;
}

/**
 * Data disks on running guests: hot-plug through mconsole `config ubdN=…`
 * (verified in the guest's /proc/partitions: UML answers OK even for unusable
 * devices), hot-unplug with `remove ubdN` (refused while the guest has it
 * open), recorded in SQLite and re-plugged after every boot.
 */
export class LiveDisks {
  constructor(
    private readonly host: DiskHost,
    private readonly repo: DataDisksRepo,
    private readonly instances: InstancesRepo,
    private readonly catalog: Catalog,
    private readonly bus: EventBus,
    private readonly log: Logger,
    private readonly disksDir: string,
  ) {}

  /** Every disk: instances' root COWs and the data disks, with virtual and allocated sizes and users. */
  list(): DataDiskView[] {
    const roots: DataDiskView[] = this.instances.all().flatMap((r) =>
      this.instances.disks(r.id).map((d) => ({
        name: `${r.name}-root`,
        role: "root" as const,
        ...diskFacts(d, allocatedBytes),
        createdAt: d.created_at,
        attachments: [{ instance: r.name, slot: d.slot, readOnly: false }],
      })),
    );
    return [
      ...roots,
      ...this.repo.all().map((d) => ({
        name: d.name,
        role: "data" as const,
        ...diskFacts(d, allocatedBytes),
        createdAt: d.created_at,
        attachments: this.repo.ofDisk(d.id).map((a) => ({ instance: this.instances.byId(a.instance_id)?.name ?? "?", slot: a.slot, readOnly: a.read_only === 1 })),
      })),
    ];
  }

  /** Read-write data disks of an instance. */
  writableOf(instanceId: string): DataDiskRow[] {
    return this.repo
      .ofInstance(instanceId)
      .filter((a) => a.read_only === 0)
      .map((a) => this.repo.byId(a.disk_id)!);
  }

  /** Names of data disks layered on a file. */
  onBacking(path: string): string[] {
    return this.repo
      .all()
      .filter((d) => d.backing_path === path)
      .map((d) => d.name);
  }

  /** Every instance's attachments and read-write data disks, in two queries (a list of views). */
  byInstance(): Map<string, { attachments: Array<{ slot: string; disk: string; readOnly: boolean }>; writable: DataDiskRow[] }> {
    const disks = new Map(this.repo.all().map((d) => [d.id, d]));
    const out = new Map<string, { attachments: Array<{ slot: string; disk: string; readOnly: boolean }>; writable: DataDiskRow[] }>();
    for (const a of this.repo.allAttachments()) {
      let e = out.get(a.instance_id);
      if (!e) out.set(a.instance_id, (e = { attachments: [], writable: [] }));
      const d = disks.get(a.disk_id);
      e.attachments.push({ slot: a.slot, disk: d?.name ?? "?", readOnly: a.read_only === 1 });
      if (a.read_only === 0 && d) e.writable.push(d);
    }
    return out;
  }

  attachmentsOf(instanceId: string): Array<{ slot: string; disk: string; readOnly: boolean }> {
    return this.repo.ofInstance(instanceId).map((a) => ({ slot: a.slot, disk: this.repo.byId(a.disk_id)?.name ?? "?", readOnly: a.read_only === 1 }));
  }

  /** Before a start: every attached disk made usable by the guest's uid (rw: its own; ro: its owner's group's). */
  grantAll(instanceId: string, guest: { uid: number; gid: number }, ownerGid: number): void {
    for (const a of this.repo.ofInstance(instanceId)) grantDisk(this.repo.byId(a.disk_id)!.path, guest, ownerGid, a.read_only === 1);
  }

  /** The attached disks as files in the guest's jail: the disk (writable or not) and a COW's backing. */
  jailFiles(instanceId: string): Array<{ path: string; backing: string | null; writable: boolean }> {
    return this.repo.ofInstance(instanceId).map((a) => {
      const d = this.repo.byId(a.disk_id)!;
      return { path: d.path, backing: d.backing_path, writable: a.read_only === 0 };
    });
  }

  /** Boot options for every attached disk (start of a new process). */
  bootArgs(instanceId: string): string[] {
    return this.repo.ofInstance(instanceId).map((a) => ubdSpec(a.slot, this.repo.byId(a.disk_id)!, a.read_only === 1));
  }

  async attach(name: string, req: z.output<typeof AttachSchema>): Promise<AttachmentView> {
    const row = this.host.row(name);
    const live = row.state === "running" && this.host.hasGuest(row.id);
    if (!live && row.state !== "stopped" && row.state !== "crashed") {
      throw new UmldError("invalid_state", `cannot attach a disk to an instance that is ${row.state}`, { state: row.state, action: "attach-disk" });
    }
    const creating = req.sizeMiB !== undefined || req.image !== undefined;
    const existing = req.disk !== undefined ? this.repo.byName(req.disk) : undefined;
    if (existing && creating) throw new UmldError("disk_exists", `a disk named '${req.disk}' already exists; attach it without sizeMiB/image`, { disk: req.disk });
    if (!existing && !creating) throw new UmldError("disk_not_found", `no disk named '${req.disk}'; give sizeMiB or image to create it`, { disk: req.disk });
    if (existing) this.checkSharing(existing, row, req.readOnly);
    const taken = new Set(this.repo.ofInstance(row.id).map((a) => a.slot));
    const slot = DATA_SLOTS.find((s) => !taken.has(s));
    if (!slot) throw new UmldError("no_free_slot", `instance '${name}' has no free disk slot (ubdb..ubdp all taken)`, { slots: DATA_SLOTS.length });

    this.checkQuota(row, req, existing);
    const disk = existing ?? this.createDisk(req, req.disk ?? this.freeName(`${name}-${slot}`));
    if (disk.kind === "cow") {
      const rec = dataDiskRecord(disk);
      const c = rec ? checkCow(disk.path, rec) : { ok: false as const, reason: `backing file ${disk.backing_path} is missing or not a regular file` };
      if (!c.ok) throw new UmldError("disk_backing_changed", `disk '${disk.name}' cannot be used: ${c.reason}`, { disk: disk.name });
    }
    const identity = this.host.identityOf(name);
    const inJail = {
      readOnly: [...(req.readOnly ? [disk.path] : []), ...(disk.backing_path ? [disk.backing_path] : [])].map((p) => ({ source: p, at: p })),
      readWrite: req.readOnly ? [] : [disk.path],
      devices: [],
    };
    try {
      grantDisk(disk.path, identity, identity.groups[1]!, req.readOnly);
      if (live) {
        await this.host.jailChange(row.id, { ...inJail, remove: [] });
        await this.plug(name, slot, disk, req.readOnly);
      }
      this.repo.attach({ disk_id: disk.id, instance_id: row.id, slot, read_only: req.readOnly ? 1 : 0, attached_at: nowIso() }, existing ? undefined : disk);
    } catch (e) {
      if (live) await this.host.jailChange(row.id, { readOnly: [], readWrite: [], devices: [], remove: this.leavesJail(row.id, disk, slot) }).catch(() => {});
      if (!existing) rmSync(disk.path, { force: true });
      throw e;
    }
    this.log.info({ instance: name, slot, disk: disk.name, readOnly: req.readOnly, live }, "disk attached");
    this.bus.publish({ type: "instance.disk", instance: name, change: "attached", slot, disk: disk.name, readOnly: req.readOnly, live, timestamp: nowIso() });
    return { slot, disk: disk.name, readOnly: req.readOnly, live };
  }

  async detach(name: string, slot: string): Promise<{ detached: string; disk: string }> {
    const row = this.host.row(name);
    const att = this.repo.ofInstance(row.id).find((a) => a.slot === slot);
    if (!att) throw new UmldError("disk_not_found", `instance '${name}' has no disk in ${slot}`, { slot });
    const disk = this.repo.byId(att.disk_id)!;
    const live = row.state === "running" && this.host.hasGuest(row.id);
    if (!live && row.state !== "stopped" && row.state !== "crashed") {
      throw new UmldError("invalid_state", `cannot detach a disk from an instance that is ${row.state}`, { state: row.state, action: "detach-disk" });
    }
    if (live) {
      try {
        await this.host.mconsole(name, `remove ubd${unitOf(slot)}`);
      } catch (e) {
        const text = (e as Error).message;
        if (/currently open|busy/i.test(text)) {
          throw new UmldError("disk_busy", `the guest still has /dev/${slot} open (mounted?); unmount it first`, { slot, guest: text });
        }
        if (!/doesn't exist/i.test(text)) throw e; // not plugged (e.g. failed at boot): just forget it
      }
    }
    if (live) await this.host.jailChange(row.id, { readOnly: [], readWrite: [], devices: [], remove: this.leavesJail(row.id, disk, slot) });
    this.repo.detach(row.id, slot);
    this.log.info({ instance: name, slot, disk: disk.name, live }, "disk detached");
    this.bus.publish({ type: "instance.disk", instance: name, change: "detached", slot, disk: disk.name, readOnly: att.read_only === 1, live, timestamp: nowIso() });
    return { detached: slot, disk: disk.name };
  }

  /** Deletes a data disk no instance has attached, and its file (never one outside umld's disks directory). */
  delete(name: string): { deleted: string } {
    const disk = this.repo.byName(name);
    if (!disk) throw new UmldError("disk_not_found", `no disk named '${name}'`, { disk: name });
    const users = this.repo.ofDisk(disk.id).map((a) => this.instances.byId(a.instance_id)?.name ?? "?");
    if (users.length) throw new UmldError("disk_in_use", `disk '${name}' is attached to ${users.join(", ")}; detach it first`, { disk: name, attachedTo: users });
    this.repo.delete(disk.id);
    if (disk.path.startsWith(`${this.disksDir}/`)) rmSync(disk.path, { force: true });
    this.log.info({ disk: name }, "disk deleted");
    return { deleted: name };
  }

  /** After a reboot the kernel restarts with its original command line: plug what was hot-added since. */
  async afterBoot(name: string): Promise<void> {
    const row = this.host.row(name);
    for (const a of this.repo.ofInstance(row.id)) {
      const current = await this.host.mconsole(name, `config ubd${unitOf(a.slot)}`).catch(() => "");
      if (current.trim() !== "") continue;
      try {
        await this.plug(name, a.slot, this.repo.byId(a.disk_id)!, a.read_only === 1);
      } catch (e) {
        this.log.error({ instance: name, slot: a.slot, err: (e as Error).message }, "could not re-plug a disk after boot");
      }
    }
  }

  private async plug(name: string, slot: string, disk: DataDiskRow, readOnly: boolean): Promise<void> {
    await this.host.mconsole(name, `config ${ubdSpec(slot, disk, readOnly)}`);
    // UML answers OK even for a device it cannot use: the guest must show it
    const parts = await this.host.mconsole(name, "proc partitions");
    if (!new RegExp(`\\s${slot}$`, "m").test(parts)) {
      await this.host.mconsole(name, `remove ubd${unitOf(slot)}`).catch(() => {});
      throw new UmldError("device_failed", `the guest did not get /dev/${slot}`, { slot, partitions: parts.trim() });
    }
  }

  /** What a detached disk takes out of the guest's jail: the disk, and its backing unless another of its disks uses it. */
  private leavesJail(instanceId: string, disk: DataDiskRow, slot: string): string[] {
    const others = [
      ...this.instances.disks(instanceId).flatMap((d) => [d.path, d.backing_path]),
      ...this.repo
        .ofInstance(instanceId)
        .filter((a) => a.slot !== slot)
        .flatMap((a) => {
          const d = this.repo.byId(a.disk_id)!;
          return [d.path, d.backing_path];
        }),
    ];
    return [disk.path, disk.backing_path].filter((p): p is string => p !== null && !others.includes(p));
  }

  /** A read-write disk counts its virtual size against the instance's quota (the most a COW or raw file can grow). */
  private checkQuota(row: InstanceRow, req: z.output<typeof AttachSchema>, existing: DataDiskRow | undefined): void {
    if (row.disk_quota_mib === null || req.readOnly) return;
    const requestBytes = existing ? existing.size_bytes : req.image !== undefined ? this.catalog.image(req.image).size_bytes : req.sizeMiB! * 1048576;
    const usageBytes = this.instances.disks(row.id).reduce((n, d) => n + d.size_bytes, 0) + this.writableOf(row.id).reduce((n, d) => n + d.size_bytes, 0);
    const quotaBytes = row.disk_quota_mib * 1048576;
    if (usageBytes + requestBytes > quotaBytes) {
      throw new UmldError(
        "disk_quota_exceeded",
        `attaching ${Math.ceil(requestBytes / 1048576)} MiB read-write would exceed '${row.name}''s disk quota of ${row.disk_quota_mib} MiB (${Math.ceil(usageBytes / 1048576)} MiB used)`,
        {
          quotaBytes,
          usageBytes,
          requestBytes,
        },
      );
    }
  }

  private checkSharing(disk: DataDiskRow, row: InstanceRow, readOnly: boolean): void {
    const others = this.repo.ofDisk(disk.id);
    if (others.some((a) => a.instance_id === row.id)) {
      throw new UmldError("disk_in_use", `disk '${disk.name}' is already attached to '${row.name}'`, { disk: disk.name });
    }
    const names = (rows: typeof others) => rows.map((a) => this.instances.byId(a.instance_id)?.name ?? "?");
    const writers = others.filter((a) => a.read_only === 0);
    if (writers.length > 0 || (!readOnly && others.length > 0)) {
      throw new UmldError("disk_in_use", `disk '${disk.name}' is attached ${writers.length ? "read-write" : "read-only"} to ${names(others).join(", ")}; a disk is shared only read-only`, {
        disk: disk.name,
        attachedTo: names(others),
      });
    }
  }

  private freeName(base: string): string {
    if (!this.repo.byName(base)) return base;
    for (let i = 2; ; i++) if (!this.repo.byName(`${base}-${i}`)) return `${base}-${i}`;
  }

  private createDisk(req: z.output<typeof AttachSchema>, diskName: string): DataDiskRow {
    mkdirSync(this.disksDir, { recursive: true, mode: 0o700 });
    const id = newId();
    if (req.image !== undefined) {
      const image = this.catalog.image(req.image);
      const path = join(this.disksDir, `${id}.cow`);
      const h = createCow(path, image.path);
      return { id, name: diskName, kind: "cow", path, backing_path: image.path, backing_size: h.size, backing_mtime: h.mtime, size_bytes: h.size, created_at: nowIso() };
    }
    const path = join(this.disksDir, `${id}.img`);
    const size = req.sizeMiB! * 1024 * 1024;
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      ftruncateSync(fd, size); // sparse
      fsyncSync(fd); // on disk before its row is
    } finally {
      closeSync(fd);
    }
    fsyncDir(this.disksDir);
    return { id, name: diskName, kind: "raw", path, backing_path: null, backing_size: null, backing_mtime: null, size_bytes: size, created_at: nowIso() };
  }
}

/**
 * What SQLite recorded of a COW data disk's backing. Disks made before umld
 * recorded size and mtime: the recorded (root-owned) backing as it is now,
 * never what the disk's header says.
 */
export function dataDiskRecord(d: DataDiskRow): BackingRecord | null {
  if (d.backing_path === null) return null;
  if (d.backing_size !== null && d.backing_mtime !== null) return { path: d.backing_path, size: d.backing_size, mtime: d.backing_mtime };
  return recordNow(d.backing_path);
}
