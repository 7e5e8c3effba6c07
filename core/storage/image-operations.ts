import type { ImageView } from "../../protocol/images.js";
import type { OperationView } from "../../protocol/operations.js";
import { UmldError } from "../errors.js";
import type { Operations } from "../operations/operations.js";
import type { Catalog } from "./catalog.js";
import type { ImportSource } from "./image-import.js";
import { sha256File } from "./hash.js";
import { checkCow, recordNow } from "../uml/cow.js";
import type { DataDiskView } from "../../protocol/disks.js";
import type { VerifyResult } from "../../protocol/images.js";
import type { z } from "zod";

/** Image imports as operations: progress streamed as events, the result waited on or not. */
export class ImageOperations {
  constructor(
    private readonly catalog: Catalog,
    private readonly operations: Operations,
    private readonly dependants: (path: string) => string[],
  ) {}

  /** Builds a built-in image (busybox, debian) as an operation with progress. */
  build(req: { name: string; recipe: "busybox" | "debian"; sizeMiB?: number; wait: boolean }): Promise<{ operation: OperationView; image: ImageView | null }> {
    return this.asOperation("image.build", req.name, req.wait, (opId) => this.catalog.buildImage(req.name, req.recipe, req.sizeMiB, (p) => this.operations.progress(opId, p)));
  }

  async import(req: { name: string; source: ImportSource; readiness: "notify" | "none"; sizeMiB?: number; wait: boolean }): Promise<{ operation: OperationView; image: ImageView | null }> {
    return this.asOperation("image.import", req.name, req.wait, (opId) => this.catalog.importImage(req.name, req.source, req.readiness, req.sizeMiB, (p) => this.operations.progress(opId, p)));
  }

  private async asOperation(kind: string, name: string, wait: boolean, make: (opId: string) => Promise<ImageView>): Promise<{ operation: OperationView; image: ImageView | null }> {
    if (this.catalog.imageExists(name)) {
      throw new UmldError("image_exists", `an image named '${name}' already exists`, { image: name });
    }
    const op = this.operations.begin(kind, name);
    const work = make(op.id).then(
      (image) => {
        this.operations.succeed(op.id, { image: image.name, sha256: image.sha256 });
        return image;
      },
      (e) => {
        this.operations.fail(op.id, e);
        throw e;
      },
    );
    if (!wait) {
      work.catch(() => {}); // the outcome is on the operation
      return { operation: op, image: null };
    }
    const image = await work;
    return { operation: this.operations.get(op.id), image: { ...image, dependants: this.dependants(image.path) } };
  }

  list(): ImageView[] {
    return this.catalog.listImages(this.dependants);
  }

  /**
   * Recomputes the sha256 (streamed, off the event loop's critical path) and
   * checks every COW over the image against what SQLite recorded of it.
   */
  async verify(name: string, disks: DataDiskView[]): Promise<z.infer<typeof VerifyResult>> {
    const img = this.catalog.image(name);
    const actual = await sha256File(img.path);
    const layers = disks
      .filter((d) => d.kind === "cow" && d.backingPath === img.path)
      .map((d) => {
        const rec = d.backingSizeBytes !== null && d.backingMtime !== null ? { path: img.path, size: d.backingSizeBytes, mtime: d.backingMtime } : recordNow(img.path);
        const r = rec ? checkCow(d.path, rec) : { ok: false as const, reason: `backing file ${img.path} is missing or not a regular file` };
        return { disk: d.name, ok: r.ok, reason: r.ok ? null : r.reason };
      });
    return { image: img.name, ok: actual === img.sha256 && layers.every((l) => l.ok), expectedSha256: img.sha256, actualSha256: actual, layers };
  }

  /** Deletes an image by stored name (a tenant's request is resolved to its own image first). */
  delete(name: string): { deleted: string } {
    this.catalog.deleteImage(name, this.dependants);
    return { deleted: name };
  }
}
