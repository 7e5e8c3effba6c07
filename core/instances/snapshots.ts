import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { InstanceAction, InstanceView } from "../../protocol/instances.js";
import type { OperationView } from "../../protocol/operations.js";
import type { SnapshotView } from "../../protocol/snapshots.js";
import { UmldError } from "../errors.js";
import type { Operations } from "../operations/operations.js";
import type { Catalog } from "../storage/catalog.js";
import { ownerOfName } from "../storage/ownership.js";
import { sealImage } from "../storage/seal.js";
import type { ImageRow } from "../store/catalog-repo.js";
import type { DiskRow, InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import type { SnapshotsRepo } from "../store/snapshots-repo.js";
import { mergeCowOffThread } from "../uml/cow-merge.js";
import { checkCow, createCow, CowMismatchError, type BackingRecord } from "../uml/cow.js";
import { allocatedBytes, renameDurable } from "../util/fs.js";
import { newId, nowIso } from "../util/ids.js";
import type { ActOptions } from "./commands.js";
import type { CreateInstance } from "./commands.js";

/** What snapshots, clones and merges need of the instances (core/instances/instances.ts wires it). */
export interface LayerHost {
  row(name: string): InstanceRow;
  get(name: string): InstanceView;
  hasGuest(id: string): boolean;
  mconsole(name: string, command: string, timeoutMs?: number): Promise<string>;
  act(name: string, action: InstanceAction, o: ActOptions): Promise<unknown>;
  create(c: CreateInstance): InstanceView;
  layersOn(path: string): string[];
  busyWithName(name: string): string | null;
  /** Marks the instance busy (a start is refused with instance_busy) while its disk is read or replaced. */
  markUpgrading(name: string, on: boolean): void;
}

type OpResult<T> = Promise<{ operation: OperationView; result: T | null }>;

/** What SQLite recorded of a disk's backing: the only description of it root acts on. */
export function recordOf(d: DiskRow): BackingRecord {
  if (d.backing_path === null || d.backing_size === null || d.backing_mtime === null) {
    throw new UmldError("host_error", `disk ${d.slot} has no recorded backing`, { slot: d.slot });
  }
  return { path: d.backing_path, size: d.backing_size, mtime: d.backing_mtime };
}

/**
 * Snapshots, restores, clones and merges. UML's COW is single-level (a COW's
 * backing is read raw), so history cannot be a chain of COWs: a snapshot
 * flattens the instance's disk (COW over its base) into a new sealed image,
 * and restores and clones are fresh COWs over that image (O(1)).
 *
 * Every image made here belongs to the instance's tenant (`<tenant>.<name>`,
 * owner column) or, for an admin's instance, to the admin, not shared; an
 * admin's merge may publish to the shared catalogue explicitly.
 *
 * Moving a root disk onto another backing (restore, merge with switch) is
 * crash-safe and never leaves an image in use unprotected:
 *   1. the new COW is written as `disk0.cow.new` and fsynced (file, directory);
 *   2. the new backing is committed as the disk's pending backing: from here
 *      both the old and the new image count as in use;
 *   3. `.new` is renamed over the COW and the directory fsynced;
 *   4. the pending backing becomes the backing (commit).
 * At start, `finishRebases` completes any disk left with a pending backing:
 * `.new` still there means step 3 did not happen (it is complete since step
 * 1 ended before step 2): rename it; gone means it did: commit step 4.
 */
export class Snapshots {
  constructor(
    private readonly m: LayerHost,
    private readonly instances: InstancesRepo,
    private readonly repo: SnapshotsRepo,
    private readonly catalog: Catalog,
    private readonly operations: Operations,
    private readonly log: Logger,
  ) {
    // Instances is built before reconcileAtStart sweeps the state dir: finish rebases before `.new` files are swept
    this.finishRebases();
  }

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
    const hold = this.flattenable(row, "snapshot");
    const own = ownerOfName(name);
    return this.run("instance.snapshot", name, wait, hold, async (opId) => {
      const image = await this.flatten(name, opId, { base: `${own.name}-${snap}`, kind: "snapshot", source: `snapshot ${snap} of ${name}`, owner: own.tenant, shared: false, instanceId: row.id });
      try {
        this.repo.insert({ id: newId(), instance_id: row.id, name: snap, image_id: image.id, created_at: nowIso() });
      } catch (e) {
        this.catalog.deleteImageRow(image, () => []); // the instance went meanwhile: no snapshot, no image
        throw e;
      }
      this.log.info({ instance: name, snapshot: snap, image: image.name }, "snapshot taken");
      return this.list(name).find((s) => s.name === snap)!;
    });
  }

  /** The instance (stopped) gets a fresh COW over the snapshot: the guest sees the snapshot's data. */
  restore(name: string, snap: string): InstanceView {
    const row = this.m.row(name);
    const s = this.repo.byName(row.id, snap);
    if (!s) throw new UmldError("snapshot_not_found", `'${name}' has no snapshot '${snap}'`, { snapshot: snap });
    this.refuseBusy(name);
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
    const users = [...this.m.layersOn(img.path), ...this.catalog.pendingOn(img.path)];
    if (users.length) throw new UmldError("snapshot_in_use", `snapshot '${snap}' has layers on it: ${users.join(", ")}`, { snapshot: snap, dependants: users });
    this.repo.delete(s.id);
    this.catalog.deleteImageRow(img, () => []);
    return { deleted: snap };
  }

  /** A new instance from a snapshot (a new COW: O(1)) or, without one, from a full copy of the current disk. */
  clone(src: string, req: { name: string; snapshot?: string; memoryMiB?: number; wait: boolean }): OpResult<InstanceView> {
    const row = this.m.row(src);
    let fromSnapshot: ImageRow | null = null;
    let hold = false;
    if (req.snapshot !== undefined) {
      const s = this.repo.byName(row.id, req.snapshot);
      if (!s) throw new UmldError("snapshot_not_found", `'${src}' has no snapshot '${req.snapshot}'`, { snapshot: req.snapshot });
      fromSnapshot = this.catalog.imageById(s.image_id)!;
    }
    try {
      this.m.row(req.name);
      throw new UmldError("instance_exists", `an instance named '${req.name}' already exists`, { name: req.name });
    } catch (e) {
      if ((e as UmldError).code !== "instance_not_found") throw e;
    }
    if (!fromSnapshot) hold = this.flattenable(row, "clone");
    const own = ownerOfName(req.name);
    return this.run("instance.clone", req.name, req.wait, hold ? src : null, async (opId) => {
      const base =
        fromSnapshot ?? (await this.flatten(src, opId, { base: `${own.name}-base`, kind: "merged", source: `full copy of ${src}`, owner: ownerOfName(src).tenant, shared: false, instanceId: null }));
      try {
        this.m.create({
          name: req.name,
          memoryMiB: req.memoryMiB ?? Math.min(row.memory_mib, row.max_memory_mib),
          maxMemoryMiB: Math.max(req.memoryMiB ?? 0, row.max_memory_mib),
          image: base.name,
          kernel: this.catalog.kernelById(row.kernel_id)!.name,
          bootOptions: JSON.parse(row.boot_options) as string[],
          // a copy of the instance, its limits and memory reclaim included
          memoryReclaim: row.memory_reclaim,
          limits: { cpus: row.cpus, cpuWeight: row.cpu_weight, ioWeight: row.io_weight, pids: row.pids_max, netMbit: row.net_mbit },
        });
      } catch (e) {
        if (!fromSnapshot) this.catalog.deleteImageRow(base, (p) => this.m.layersOn(p));
        throw e;
      }
      if (!fromSnapshot) this.catalog.setMadeFor(base.id, this.m.row(req.name).id); // the full copy goes with the clone
      this.log.info({ source: src, clone: req.name, snapshot: req.snapshot ?? null }, "instance cloned");
      return this.m.get(req.name);
    });
  }

  /**
   * Flattens the instance's disk into a new standalone image; then (switch)
   * puts the instance on a fresh COW over it. The image is the instance's
   * tenant's (or the admin's), in the shared catalogue only when asked.
   */
  merge(name: string, req: { image: string; switch: boolean; shared?: boolean; wait: boolean }): OpResult<{ image: string; switched: boolean }> {
    const row = this.m.row(name);
    const tenant = ownerOfName(name).tenant;
    const owner = req.shared ? null : tenant;
    const stored = owner === null ? req.image : `${owner}.${req.image}`;
    if (this.catalog.imageExists(stored)) throw new UmldError("image_exists", `an image named '${stored}' already exists`, { image: stored });
    if (req.switch && row.state !== "stopped" && row.state !== "crashed") {
      throw new UmldError("invalid_state", `merge with switch needs a stopped instance; '${name}' is ${row.state}`, { state: row.state, action: "merge" });
    }
    const hold = this.flattenable(row, "merge");
    // a shared image's source never names a tenant's objects: every tenant sees it
    const source = req.shared && tenant !== null ? "merge of a tenant's instance" : `merge of ${name}`;
    return this.run("instance.merge", name, req.wait, hold, async (opId) => {
      const image = await this.flatten(name, opId, { name: stored, kind: "merged", source, owner, shared: req.shared === true, instanceId: null });
      if (req.switch) {
        // the instance was held busy; still, nothing is swapped under a guest that runs now
        const now = this.m.row(name);
        if (now.state !== "stopped" && now.state !== "crashed") {
          throw new UmldError("invalid_state", `'${name}' is ${now.state} now; image '${stored}' was made, the instance was not switched onto it`, {
            state: now.state,
            action: "merge",
            image: stored,
          });
        }
        this.rebaseRoot(now, image);
      }
      return { image: image.name, switched: req.switch };
    });
  }

  /** Before an instance is deleted: the images made for it (its snapshots', its clone base). */
  imagesOf(instanceId: string): ImageRow[] {
    const byId = new Map<string, ImageRow>();
    for (const s of this.repo.of(instanceId)) {
      const img = this.catalog.imageById(s.image_id);
      if (img) byId.set(img.id, img);
    }
    for (const img of this.catalog.madeFor(instanceId)) byId.set(img.id, img);
    return [...byId.values()];
  }

  /**
   * After an instance is deleted: each image made for it that nothing uses is
   * deleted; one that something still uses (a clone of a snapshot) stays,
   * owned by its tenant and counted in its disk quota, deletable as an image.
   */
  dropImages(images: ImageRow[]): void {
    for (const img of images) {
      try {
        this.catalog.deleteImageRow(img, (p) => this.m.layersOn(p));
      } catch (e) {
        this.catalog.setMadeFor(img.id, null);
        this.log.info({ image: img.name, reason: (e as Error).message }, "image of a deleted instance kept: still in use");
      }
    }
  }

  /** Finishes rebases a crash interrupted (see the protocol above); returns the instance ids. */
  finishRebases(): string[] {
    const done: string[] = [];
    for (const d of this.instances.pendingRebases()) {
      const tmp = `${d.path}.new`;
      try {
        if (existsSync(tmp)) renameDurable(tmp, d.path);
        this.instances.finishRebase(d.instance_id, d.slot);
        this.log.warn({ instanceId: d.instance_id, slot: d.slot, backing: d.pending_backing_path }, "finished a rebase a crash interrupted");
        done.push(d.instance_id);
      } catch (e) {
        // left pending: both images stay protected, and the next start tries again
        this.log.error({ instanceId: d.instance_id, slot: d.slot, err: (e as Error).message }, "could not finish an interrupted rebase");
      }
    }
    return done;
  }

  /**
   * Can the root disk be read now? Its COW must match the record (checked
   * here, and again in the flattening worker). Returns whether the instance
   * is to be held busy meanwhile: a stopped one is, so it cannot be started
   * while its disk is read or replaced.
   */
  private flattenable(row: InstanceRow, action: string): boolean {
    const running = row.state === "running" && this.m.hasGuest(row.id);
    const ok = row.state === "stopped" || row.state === "crashed" || running;
    if (!ok) throw new UmldError("invalid_state", `cannot read the disk of an instance that is ${row.state}`, { state: row.state, action });
    this.refuseBusy(row.name);
    const root = this.rootOf(row);
    const c = checkCow(root.path, recordOf(root));
    if (!c.ok) throw new UmldError("disk_backing_changed", `disk ${root.slot} cannot be read: ${c.reason}`, { slot: root.slot });
    return !running;
  }

  private refuseBusy(name: string): void {
    const busy = this.m.busyWithName(name);
    if (busy) throw new UmldError("instance_busy", `'${busy}' is still running on '${name}'`, { busy });
  }

  private rootOf(row: InstanceRow): DiskRow {
    const root = this.instances.disks(row.id).find((d) => d.slot === "ubda");
    if (!root) throw new UmldError("host_error", `instance '${row.name}' has no root disk`);
    return root;
  }

  private async flatten(
    name: string,
    opId: string,
    f: ({ base: string } | { name: string }) & { kind: "snapshot" | "merged"; source: string; owner: string | null; shared: boolean; instanceId: string | null },
  ): Promise<ImageRow> {
    const row = this.m.row(name);
    const root = this.rootOf(row);
    const running = row.state === "running" && this.m.hasGuest(row.id);
    const out = join(this.catalog.imagesDirectory(), `${newId()}.ext4`);
    const tmp = `${out}.partial`;
    if (running) {
      await this.m.mconsole(name, "sysrq s").catch(() => "");
      await new Promise((r) => setTimeout(r, 300)); // emergency sync runs in a kernel worker
      await this.m.act(name, "pause", { wait: true });
    }
    try {
      await mergeCowOffThread(root.path, recordOf(root), tmp, (done, total) => this.operations.progress(opId, { done, total, unit: "bytes", step: "flatten" }));
    } catch (e) {
      rmSync(tmp, { force: true });
      if (e instanceof CowMismatchError) throw new UmldError("disk_backing_changed", `disk ${root.slot} cannot be read: ${e.message}`, { slot: root.slot });
      throw new UmldError("host_error", `flattening ${root.path} failed: ${(e as Error).message}`, { disk: root.path });
    } finally {
      if (running) await this.m.act(name, "resume", { wait: true });
    }
    try {
      sealImage(tmp, f.owner, f.shared);
      renameDurable(tmp, out);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
    const base = this.catalog.imageById(row.image_id);
    try {
      return await this.catalog.registerImageFile({ ...f, path: out, readiness: base?.readiness ?? "none" });
    } catch (e) {
      rmSync(out, { force: true });
      throw e;
    }
  }

  /** A fresh COW over `image` replaces the root COW: the four steps in the class comment. */
  private rebaseRoot(row: InstanceRow, image: ImageRow): void {
    const root = this.rootOf(row);
    const tmp = `${root.path}.new`;
    rmSync(tmp, { force: true });
    const h = createCow(tmp, image.path);
    this.instances.beginRebase(row.id, root.slot, { path: image.path, size: h.size, mtime: h.mtime });
    renameDurable(tmp, root.path);
    this.instances.finishRebase(row.id, root.slot);
  }

  /** Runs `work` as an operation, holding `hold` (an instance name) busy until it ends. */
  private async run<T>(kind: string, target: string, wait: boolean, hold: boolean | string | null, work: (opId: string) => Promise<T>): OpResult<T> {
    const held = hold === true ? target : typeof hold === "string" ? hold : null;
    if (held) this.m.markUpgrading(held, true);
    const op = this.operations.begin(kind, target);
    const done = work(op.id)
      .finally(() => {
        try {
          if (held) this.m.markUpgrading(held, false);
        } catch {
          // deleted meanwhile (delete --force): nothing left to release
        }
      })
      .then(
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
