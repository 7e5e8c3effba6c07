import type { Db } from "./db.js";

export interface SnapshotRow {
  id: string;
  instance_id: string;
  name: string;
  image_id: string;
  created_at: string;
}

export class SnapshotsRepo {
  private readonly q;
  constructor(db: Db) {
    this.q = {
      of: db.prepare("SELECT * FROM snapshots WHERE instance_id = ? ORDER BY created_at, name"),
      byName: db.prepare("SELECT * FROM snapshots WHERE instance_id = ? AND name = ?"),
      byImage: db.prepare("SELECT * FROM snapshots WHERE image_id = ?"),
      insert: db.prepare("INSERT INTO snapshots (id, instance_id, name, image_id, created_at) VALUES (@id, @instance_id, @name, @image_id, @created_at)"),
      delete: db.prepare("DELETE FROM snapshots WHERE id = ?"),
    };
  }
  of(instanceId: string): SnapshotRow[] {
    return this.q.of.all(instanceId) as SnapshotRow[];
  }
  byName(instanceId: string, name: string): SnapshotRow | undefined {
    return this.q.byName.get(instanceId, name) as SnapshotRow | undefined;
  }
  byImage(imageId: string): SnapshotRow | undefined {
    return this.q.byImage.get(imageId) as SnapshotRow | undefined;
  }
  insert(r: SnapshotRow): void {
    this.q.insert.run(r);
  }
  delete(id: string): void {
    this.q.delete.run(id);
  }
}
