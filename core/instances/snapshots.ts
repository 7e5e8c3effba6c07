import { chmodSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { InstanceView } from "../../protocol/instances.js";
import type { OperationView } from "../../protocol/operations.js";
import type { SnapshotView } from "../../protocol/snapshots.js";
import { UmldError } from "../errors.js";
import type { Operations } from "../operations/operations.js";
import type { Catalog } from "../storage/catalog.js";
import type { ImageRow } from "../store/catalog-repo.js";
import type { InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import type { SnapshotsRepo } from "../store/snapshots-repo.js";
import { mergeCowOffThread } from "../uml/cow-merge.js";
import { createCow } from "../uml/cow.js";
import { newId, nowIso } from "../util/ids.js";
import type { InstanceCommand } from "./commands.js";
import { allocatedBytes } from "../util/fs.js";

/** What snapshots, clones and merges need from the instance manager. */
export interface LayerHost {
  row(name: string): InstanceRow;
  get(name: string): InstanceView;
  hasGuest(id: string): boolean;
  mconsole(name: string, command: string, timeoutMs?: number): Promise<string>;
  execute(cmd: InstanceCommand): Promise<unknown>;
  layersOn(path: string): string[];
}

type OpResult<T> = Promise<{ operation: OperationView; result: T | null }>;

/**
 * Snapshots, restores, clones and merges. UML's COW is single-level (a COW's
 * backing is read raw), so history cannot be a chain of COWs: a snapshot
 * flattens the instance's disk (COW over its base) into a new sealed image,
 * and restores and clones are fresh COWs over that image (O(1)).
 */
export class Snapshots {
  constructor(
    private readonly m: LayerHost,
    private readonly instances: InstancesRepo,
    private readonly repo: SnapshotsRepo,
    private readonly catalog: Catalog,
    private readonly operations: Operations,
    private readonly log: Logger,
  ) {}

  list(name: string): SnapshotView[] {
    const row = this.m.row(name);
    return this.repo.of(row.id).map((s) => {
      const img = this.catalog.imageById(s.image_id)!;
      return { name: s.name, image: img.name, sizeBytes: img.size_bytes, allocatedBytes: allocatedBytes(img.path), dependants: this.m.layersOn(img.path), createdAt: s.created_at };
    });
  }

  /** Snapshot of the root disk; a running guest is synced (sysrq s) and paused while it is read. */
  snapshot(name: string, snap: string, wait: boolean): OpResult<SnapshotView> {
    const row = this.m.row(name);
    if (this.repo.byName(row.id, snap)) throw new UmldError("snapshot_exists", `'${name}' already has a snapshot '${snap}'`, { snapshot: snap });
    this.flattenable(row);
    return this.run("instance.snapshot", name, wait, async (opId) => {
      const image = await this.flatten(name, opId, this.freeImageName(`${name}-${snap}`), "snapshot", `snapshot ${snap} of ${name}`);
      this.repo.insert({ id: newId(), instance_id: row.id, name: snap, image_id: image.id, created_at: nowIso() });
      this.log.info({ instance: name, snapshot: snap, image: image.name }, "snapshot taken");
      return this.list(name).find((s) => s.name === snap)!;
    });
  }

  /** The instance (stopped) gets a fresh COW over the snapshot: the guest sees the snapshot's data. */
  restore(name: string, snap: string): InstanceView {
    const row = this.m.row(name);
    const s = this.repo.byName(row.id, snap);
    if (!s) throw new UmldError("snapshot_not_found", `'${name}' has no snapshot '${snap}'`, { snapshot: snap });
    if (row.state !== "stopped" && row.state !== "crashed") {
      throw new UmldError("invalid_state", `restore needs a stopped instance; '${name}' is ${row.state}`, { state: row.state, action: "restore" });
    }
    this.rebaseRoot(row, this.catalog.imageById(s.image_id)!);
    this.log.info({ instance: name, snapshot: snap }, "snapshot restored");
    return this.m.get(name);
  }

  deleteSnapshot(name: string, snap: string): { deleted: string } {
    const row = this.m.row(name);
    const s = this.repo.byName(row.id, snap);
    if (!s) throw new UmldError("snapshot_not_found", `'${name}' has no snapshot '${snap}'`, { snapshot: snap });
    const img = this.catalog.imageById(s.image_id)!;
    const users = this.m.layersOn(img.path);
    if (users.length) throw new UmldError("snapshot_in_use", `snapshot '${snap}' has layers on it: ${users.join(", ")}`, { snapshot: snap, dependants: users });
    this.repo.delete(s.id);
    this.catalog.deleteImage(img.name, () => []);
    return { deleted: snap };
  }

  /** A new instance from a snapshot (a new COW: O(1)) or, without one, from a full copy of the current disk. */
  clone(src: string, req: { name: string; snapshot?: string; memoryMiB?: number; wait: boolean }): OpResult<InstanceView> {
    const row = this.m.row(src);
    let fromSnapshot: ImageRow | null = null;
    if (req.snapshot !== undefined) {
      const s = this.repo.byName(row.id, req.snapshot);
      if (!s) throw new UmldError("snapshot_not_found", `'${src}' has no snapshot '${req.snapshot}'`, { snapshot: req.snapshot });
      fromSnapshot = this.catalog.imageById(s.image_id)!;
    } else {
      this.flattenable(row);
    }
    try {
      this.m.row(req.name);
      throw new UmldError("instance_exists", `an instance named '${req.name}' already exists`, { name: req.name });
    } catch (e) {
      if ((e as UmldError).code !== "instance_not_found") throw e;
    }
    return this.run("instance.clone", req.name, req.wait, async (opId) => {
      const base = fromSnapshot ?? (await this.flatten(src, opId, this.freeImageName(`${req.name}-base`), "merged", `full copy of ${src}`));
      await this.m.execute({
        kind: "create", name: req.name, memoryMiB: req.memoryMiB ?? Math.min(row.memory_mib, row.max_memory_mib), maxMemoryMiB: Math.max(req.memoryMiB ?? 0, row.max_memory_mib),
        image: base.name, kernel: this.catalog.kernelById(row.kernel_id)!.name, bootOptions: JSON.parse(row.boot_options) as string[],
      });
      this.log.info({ source: src, clone: req.name, snapshot: req.snapshot ?? null }, "instance cloned");
      return this.m.get(req.name);
    });
  }

  /** Flattens the instance's disk into a new standalone image; then (switch) puts the instance on a fresh COW over it. */
  merge(name: string, req: { image: string; switch: boolean; wait: boolean }): OpResult<{ image: string; switched: boolean }> {
    const row = this.m.row(name);
    if (this.catalog.listImages().some((i) => i.name === req.image)) throw new UmldError("image_exists", `an image named '${req.image}' already exists`, { image: req.image });
    if (req.switch && row.state !== "stopped" && row.state !== "crashed") {
      throw new UmldError("invalid_state", `merge with switch needs a stopped instance; '${name}' is ${row.state}`, { state: row.state, action: "merge" });
    }
    this.flattenable(row);
    return this.run("instance.merge", name, req.wait, async (opId) => {
      const image = await this.flatten(name, opId, req.image, "merged", `merge of ${name}`);
      if (req.switch) this.rebaseRoot(this.m.row(name), image);
      return { image: image.name, switched: req.switch };
    });
  }

  private flattenable(row: InstanceRow): void {
    const ok = row.state === "stopped" || row.state === "crashed" || (row.state === "running" && this.m.hasGuest(row.id));
    if (!ok) throw new UmldError("invalid_state", `cannot read the disk of an instance that is ${row.state}`, { state: row.state, action: "snapshot" });
  }

  private async flatten(name: string, opId: string, imageName: string, kind: "snapshot" | "merged", source: string): Promise<ImageRow> {
    const row = this.m.row(name);
    const root = this.instances.disks(row.id).find((d) => d.slot === "ubda")!;
    const running = row.state === "running" && this.m.hasGuest(row.id);
    const out = join(this.catalog.imagesDirectory(), `${newId()}.ext4`);
    const tmp = `${out}.partial`;
    if (running) {
      await this.m.mconsole(name, "sysrq s").catch(() => "");
      await new Promise((r) => setTimeout(r, 300)); // emergency sync runs in a kernel worker
      await this.m.execute({ kind: "action", name, action: "pause", wait: true });
    }
    try {
      await mergeCowOffThread(root.path, tmp, (done, total) => this.operations.progress(opId, { done, total, unit: "bytes", step: "flatten" }));
    } catch (e) {
      rmSync(tmp, { force: true });
      throw new UmldError("host_error", `flattening ${root.path} failed: ${(e as Error).message}`, { disk: root.path });
    } finally {
      if (running) await this.m.execute({ kind: "action", name, action: "resume", wait: true });
    }
    chmodSync(tmp, 0o444);
    renameSync(tmp, out);
    const base = this.catalog.imageById(row.image_id);
    return this.catalog.registerImageFile(imageName, out, kind, base?.readiness ?? "none", source);
  }

  /** A fresh COW over `image` replaces the root COW in one rename. */
  private rebaseRoot(row: InstanceRow, image: ImageRow): void {
    const root = this.instances.disks(row.id).find((d) => d.slot === "ubda")!;
    const tmp = `${root.path}.new`;
    rmSync(tmp, { force: true });
    const h = createCow(tmp, image.path);
    renameSync(tmp, root.path);
    this.instances.rebaseDisk(row.id, "ubda", { backing_path: image.path, backing_size: h.size, backing_mtime: h.mtime });
  }

  private freeImageName(base: string): string {
    const b = base.slice(0, 55).replace(/-+$/, "");
    const taken = new Set(this.catalog.listImages().map((i) => i.name));
    if (!taken.has(b)) return b;
    for (let i = 2; ; i++) if (!taken.has(`${b}-${i}`)) return `${b}-${i}`;
  }

  private async run<T>(kind: string, target: string, wait: boolean, work: (opId: string) => Promise<T>): OpResult<T> {
    const op = this.operations.begin(kind, target);
    const done = work(op.id).then(
      (result) => ({ operation: this.operations.succeed(op.id, result), result }),
      (e) => ({ operation: this.operations.fail(op.id, e), result: null as T | null, error: e as unknown }),
    );
    if (!wait) {
      void done;
      return { operation: op, result: null };
    }
    const r = await done;
    if ("error" in r) throw r.error;
    return r;
  }
}

