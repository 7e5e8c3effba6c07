import type { Db } from "./db.js";

export interface ImageRow {
  id: string;
  name: string;
  path: string;
  size_bytes: number;
  sha256: string;
  readiness: "notify" | "none";
  is_default: number;
  created_at: string;
  kind: "built-in" | "imported" | "snapshot" | "merged";
  source: string | null;
  /** the tenant it belongs to; null: the admin's */
  owner: string | null;
  /** 1: in the admin's shared catalogue, seen and used by every tenant */
  shared: number;
  /** the instance it was made for (its snapshot, its clone's base): deleted with it when unused */
  instance_id: string | null;
}

export interface KernelRow {
  id: string;
  name: string;
  path: string;
  version: string;
  sha256: string;
  size_bytes: number;
  mtime_ms: number;
  is_default: number;
  created_at: string;
}

/** Images and kernels: what instances are made from. */
export class CatalogRepo {
  private readonly q;

  constructor(private readonly db: Db) {
    this.q = {
      images: db.prepare("SELECT * FROM images ORDER BY name"),
      imageByName: db.prepare("SELECT * FROM images WHERE name = ?"),
      imageById: db.prepare("SELECT * FROM images WHERE id = ?"),
      defaultImage: db.prepare("SELECT * FROM images WHERE is_default = 1 LIMIT 1"),
      insertImage: db.prepare(
        `INSERT INTO images (id, name, path, size_bytes, sha256, readiness, is_default, created_at, kind, source, owner, shared, instance_id)
         VALUES (@id, @name, @path, @size_bytes, @sha256, @readiness, @is_default, @created_at, @kind, @source, @owner, @shared, @instance_id)`,
      ),
      deleteImage: db.prepare("DELETE FROM images WHERE id = ?"),
      madeFor: db.prepare("SELECT * FROM images WHERE instance_id = ?"),
      setMadeFor: db.prepare("UPDATE images SET instance_id = ? WHERE id = ?"),
      snapshotsOf: db.prepare("SELECT s.name AS snapshot, i.name AS instance FROM snapshots s JOIN instances i ON i.id = s.instance_id WHERE s.image_id = ?"),
      pendingOn: db.prepare("SELECT i.name FROM disks d JOIN instances i ON i.id = d.instance_id WHERE d.pending_backing_path = ?"),
      kernels: db.prepare("SELECT * FROM kernels ORDER BY name"),
      kernelByName: db.prepare("SELECT * FROM kernels WHERE name = ?"),
      kernelById: db.prepare("SELECT * FROM kernels WHERE id = ?"),
      defaultKernel: db.prepare("SELECT * FROM kernels WHERE is_default = 1 LIMIT 1"),
      insertKernel: db.prepare(
        `INSERT INTO kernels (id, name, path, version, sha256, size_bytes, mtime_ms, is_default, created_at)
         VALUES (@id, @name, @path, @version, @sha256, @size_bytes, @mtime_ms, @is_default, @created_at)`,
      ),
      deleteKernel: db.prepare("DELETE FROM kernels WHERE id = ?"),
      clearDefaultKernel: db.prepare("UPDATE kernels SET is_default = 0"),
      makeDefaultKernel: db.prepare("UPDATE kernels SET is_default = 1 WHERE id = ?"),
      updateKernel: db.prepare("UPDATE kernels SET version = @version, sha256 = @sha256, size_bytes = @size_bytes, mtime_ms = @mtime_ms WHERE id = @id"),
    };
  }

  images(): ImageRow[] {
    return this.q.images.all() as ImageRow[];
  }
  imageByName(name: string): ImageRow | undefined {
    return this.q.imageByName.get(name) as ImageRow | undefined;
  }
  imageById(id: string): ImageRow | undefined {
    return this.q.imageById.get(id) as ImageRow | undefined;
  }
  defaultImage(): ImageRow | undefined {
    return this.q.defaultImage.get() as ImageRow | undefined;
  }
  insertImage(row: ImageRow): void {
    this.q.insertImage.run(row);
  }
  deleteImage(id: string): void {
    this.q.deleteImage.run(id);
  }
  /** Images made for an instance (its snapshots, its clone's base). */
  madeFor(instanceId: string): ImageRow[] {
    return this.q.madeFor.all(instanceId) as ImageRow[];
  }
  setMadeFor(imageId: string, instanceId: string | null): void {
    this.q.setMadeFor.run(instanceId, imageId);
  }
  /** Snapshots whose image this is (instance and snapshot names). */
  snapshotsOf(imageId: string): Array<{ snapshot: string; instance: string }> {
    return this.q.snapshotsOf.all(imageId) as Array<{ snapshot: string; instance: string }>;
  }
  /** Instances whose root disk is being moved onto this file (a rebase not finished yet). */
  pendingOn(path: string): string[] {
    return (this.q.pendingOn.all(path) as Array<{ name: string }>).map((r) => r.name);
  }

  kernels(): KernelRow[] {
    return this.q.kernels.all() as KernelRow[];
  }
  kernelByName(name: string): KernelRow | undefined {
    return this.q.kernelByName.get(name) as KernelRow | undefined;
  }
  kernelById(id: string): KernelRow | undefined {
    return this.q.kernelById.get(id) as KernelRow | undefined;
  }
  defaultKernel(): KernelRow | undefined {
    return this.q.defaultKernel.get() as KernelRow | undefined;
  }
  insertKernel(row: KernelRow): void {
    this.q.insertKernel.run(row);
  }
  deleteKernel(id: string): void {
    this.q.deleteKernel.run(id);
  }
  setDefaultKernel(id: string): void {
    this.db.transaction(() => {
      this.q.clearDefaultKernel.run();
      this.q.makeDefaultKernel.run(id);
    })();
  }
  updateKernel(row: Pick<KernelRow, "id" | "version" | "sha256" | "size_bytes" | "mtime_ms">): void {
    this.q.updateKernel.run(row);
  }
}
