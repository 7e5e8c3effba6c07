import { ownerOfName } from "../tenants/principal.js";
import type { Db } from "./db.js";

export interface DataDiskRow {
  id: string;
  name: string;
  owner?: string | null;
  kind: "raw" | "cow";
  path: string;
  backing_path: string | null;
  /** the backing's size and whole-second mtime when the COW was made (null: made before umld recorded them) */
  backing_size: number | null;
  backing_mtime: number | null;
  size_bytes: number;
  created_at: string;
}

export interface AttachmentRow {
  disk_id: string;
  instance_id: string;
  slot: string;
  read_only: number;
  attached_at: string;
}

/** Data disks (independent of instances) and their attachments to instances. */
export class DataDisksRepo {
  private readonly q;
  constructor(private readonly db: Db) {
    this.q = {
      all: db.prepare("SELECT * FROM data_disks ORDER BY name"),
      byName: db.prepare("SELECT * FROM data_disks WHERE name = ?"),
      byId: db.prepare("SELECT * FROM data_disks WHERE id = ?"),
      insert: db.prepare(
        "INSERT INTO data_disks (id, name, owner, kind, path, backing_path, backing_size, backing_mtime, size_bytes, created_at) VALUES (@id, @name, @owner, @kind, @path, @backing_path, @backing_size, @backing_mtime, @size_bytes, @created_at)",
      ),
      ofInstance: db.prepare("SELECT * FROM disk_attachments WHERE instance_id = ? ORDER BY slot"),
      ofDisk: db.prepare("SELECT * FROM disk_attachments WHERE disk_id = ?"),
      allAttachments: db.prepare("SELECT * FROM disk_attachments ORDER BY instance_id, slot"),
      attach: db.prepare("INSERT INTO disk_attachments (disk_id, instance_id, slot, read_only, attached_at) VALUES (@disk_id, @instance_id, @slot, @read_only, @attached_at)"),
      detach: db.prepare("DELETE FROM disk_attachments WHERE instance_id = ? AND slot = ?"),
      delete: db.prepare("DELETE FROM data_disks WHERE id = ?"),
    };
  }
  all(): DataDiskRow[] {
    return this.q.all.all() as DataDiskRow[];
  }
  byName(name: string): DataDiskRow | undefined {
    return this.q.byName.get(name) as DataDiskRow | undefined;
  }
  byId(id: string): DataDiskRow | undefined {
    return this.q.byId.get(id) as DataDiskRow | undefined;
  }
  ofInstance(instanceId: string): AttachmentRow[] {
    return this.q.ofInstance.all(instanceId) as AttachmentRow[];
  }
  /** Every attachment, by instance then slot (a list of views). */
  allAttachments(): AttachmentRow[] {
    return this.q.allAttachments.all() as AttachmentRow[];
  }
  ofDisk(diskId: string): AttachmentRow[] {
    return this.q.ofDisk.all(diskId) as AttachmentRow[];
  }
  /** A new disk (if given) and its attachment, in one transaction. */
  attach(a: AttachmentRow, newDisk?: DataDiskRow): void {
    this.db.transaction(() => {
      if (newDisk) this.q.insert.run({ ...newDisk, owner: ownerOfName(newDisk.name).tenant });
      this.q.attach.run(a);
    })();
  }
  detach(instanceId: string, slot: string): void {
    this.q.detach.run(instanceId, slot);
  }
  delete(id: string): void {
    this.q.delete.run(id);
  }
}
