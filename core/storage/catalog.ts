import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ImageView, KernelView } from "../../protocol/images.js";
import { UmldError } from "../errors.js";
import type { CatalogRepo, ImageRow, KernelRow } from "../store/catalog-repo.js";
import { newId, nowIso } from "../util/ids.js";
import { DEFAULT_KERNEL_PATH, readKernelVersion } from "../uml/kernel-info.js";
import { buildBusyboxImage } from "./busybox-image.js";
import { sha256File } from "./hash.js";

export const DEFAULT_IMAGE_NAME = "busybox";
export const DEFAULT_KERNEL_NAME = "default";

/** Kernels and images: registration at start, lookups by name. */
export class Catalog {
  constructor(
    private readonly repo: CatalogRepo,
    private readonly imagesDir: string,
  ) {}

  /** Registers the installed linux.uml as the default kernel; re-reads version and sha256 only when the file changed. */
  async ensureDefaultKernel(path = DEFAULT_KERNEL_PATH): Promise<KernelRow> {
    if (!existsSync(path)) {
      throw new UmldError("host_error", `UML kernel not found at ${path} (install the Debian package user-mode-linux)`, { path });
    }
    const st = statSync(path);
    const existing = this.repo.kernelByName(DEFAULT_KERNEL_NAME);
    if (existing && existing.size_bytes === st.size && existing.mtime_ms === Math.floor(st.mtimeMs)) return existing;
    const [version, sha256] = await Promise.all([readKernelVersion(path), sha256File(path)]);
    if (existing) {
      this.repo.updateKernel({ id: existing.id, version, sha256, size_bytes: st.size, mtime_ms: Math.floor(st.mtimeMs) });
      return this.repo.kernelById(existing.id)!;
    }
    const row: KernelRow = {
      id: newId(), name: DEFAULT_KERNEL_NAME, path, version, sha256, size_bytes: st.size,
      mtime_ms: Math.floor(st.mtimeMs), is_default: 1, created_at: nowIso(),
    };
    this.repo.insertKernel(row);
    return row;
  }

  /** Builds the busybox image on first start (a second or so, nothing downloaded) and registers it. */
  async ensureDefaultImage(): Promise<ImageRow> {
    const existing = this.repo.imageByName(DEFAULT_IMAGE_NAME);
    if (existing && existsSync(existing.path)) return existing;
    if (existing) throw new UmldError("host_error", `default image file is missing: ${existing.path}`, { path: existing.path });
    mkdirSync(this.imagesDir, { recursive: true, mode: 0o700 });
    const path = join(this.imagesDir, `${DEFAULT_IMAGE_NAME}.ext4`);
    const built = await buildBusyboxImage(path);
    const row: ImageRow = {
      id: newId(), name: DEFAULT_IMAGE_NAME, path: built.path, size_bytes: built.sizeBytes,
      sha256: await sha256File(built.path), readiness: "notify", is_default: 1, created_at: nowIso(),
    };
    this.repo.insertImage(row);
    return row;
  }

  image(name?: string): ImageRow {
    const row = name === undefined ? this.repo.defaultImage() : this.repo.imageByName(name);
    if (!row) throw new UmldError("image_not_found", name === undefined ? "no default image is registered" : `no image named '${name}'`, { image: name ?? null });
    return row;
  }

  kernel(name?: string): KernelRow {
    const row = name === undefined ? this.repo.defaultKernel() : this.repo.kernelByName(name);
    if (!row) throw new UmldError("kernel_not_found", name === undefined ? "no default kernel is registered" : `no kernel named '${name}'`, { kernel: name ?? null });
    return row;
  }

  imageById(id: string): ImageRow | undefined { return this.repo.imageById(id); }
  kernelById(id: string): KernelRow | undefined { return this.repo.kernelById(id); }

  listImages(): ImageView[] {
    return this.repo.images().map((r) => ({
      name: r.name, path: r.path, sizeBytes: r.size_bytes, sha256: r.sha256, readiness: r.readiness, createdAt: r.created_at,
    }));
  }

  listKernels(): KernelView[] {
    return this.repo.kernels().map((r) => ({
      name: r.name, path: r.path, version: r.version, sha256: r.sha256, isDefault: r.is_default === 1, createdAt: r.created_at,
    }));
  }
}
